"""Removing an overlay network across hosts (issue 9: "a network removed on one
host is removed everywhere once its last endpoint leaves").

Three test hosts and one etcd (tests/integration/multihost.py).  What a user
sees: ``network rm`` with local endpoints is refused (403, as Docker); with
endpoints only on other hosts it is accepted and left pending (inspect shows
it everywhere, new endpoints are refused everywhere); when the last endpoint
anywhere leaves, or its host dies, the network, its bridges and its etcd keys
go on every host, and its name, VNI and subnet can be taken again.
Tests share the cluster and run in file order.
"""

from __future__ import annotations

import pytest

from integration import harness
from integration.multihost import wait_for
from integration.test_overlay import TTL, ping, run_on
from integration.test_overlay import cl  # noqa: F401  (the same three-host fixture, own instance)

pytestmark = pytest.mark.kernel
SUBNET, VNI = "10.9.9.0/24", "5555"


def create(h, name: str = "ovr") -> str:
    """An overlay with a fixed subnet and VNI, seen by every host; its id."""
    h.cli("network", "create", "-d", "overlay", "--attachable", "--subnet", SUBNET,
          "-o", f"vxlanid_list={VNI}", name)
    return h.network(name)["Id"]


def seen_everywhere(cl, name: str) -> None:
    for h in cl.hosts:
        wait_for(lambda h=h: h.api("GET", f"/networks/{name}")[0] == 200, what=f"{name} on host")


def keys_of(cl, nid: str) -> list[str]:
    """Every etcd key naming the network (by id, name, VNI or subnet)."""
    keys = cl.etcdctl("get", "--prefix", "/boxnet/", "--keys-only").stdout.split()
    return [k for k in keys if nid in k or k.endswith(("/ovr", f"/vni/{VNI}", "/10.9.9.0_24"))]


def devices(h, nid: str) -> set[str]:
    """The network's bridge and VXLAN device on host ``h``."""
    return {n for n in h.link_names() if n in (f"ov-{nid[:12]}", f"vx-{nid[:12]}")}


def test_rm_with_local_endpoints_is_refused(cl):
    a, b, _ = cl.hosts
    create(a)
    seen_everywhere(cl, "ovr")
    run_on(a, "r1", "ovr")
    run_on(b, "r2", "ovr")
    st, body = a.api("DELETE", "/networks/ovr")
    assert st == 403 and "has active endpoints" in body["message"] and "r1" in body["message"]
    assert "Removing" not in a.network("ovr")          # nothing was marked
    assert ping(a, "r1", "r2")


def test_rm_elsewhere_is_pending_then_completes_everywhere(cl):
    a, b, c = cl.hosts
    nid = a.network("ovr")["Id"]
    a.cli("rm", "-f", "r1")
    a.cli("network", "rm", "ovr")                      # only b has an endpoint: accepted
    for h in cl.hosts:                                 # pending, shown by inspect everywhere
        rm = wait_for(lambda h=h: h.network("ovr").get("Removing"), what="Removing shown")
        assert rm["RequestedBy"] == a.underlay_ip
    assert "ovr" in c.cli("network", "ls").stdout
    # no new endpoint anywhere, with a clear message
    r = c.cli("run", "-d", "--name", "r3", "--network", "ovr", "busybox", "sleep", "3600",
              check=False)
    assert r.returncode != 0 and "is being removed" in r.stderr
    c.cli("rm", "-f", "r3")
    b.cli("run", "-d", "--name", "r4", "busybox", "sleep", "3600")
    st, body = b.api("POST", "/networks/ovr/connect", json={"Container": "r4"})
    assert st == 403 and "is being removed" in body["message"]
    b.cli("rm", "-f", "r4")
    assert b.inspect("r2")["State"]["Running"] and keys_of(cl, nid)  # kept while r2 lives
    b.cli("rm", "-f", "r2")                            # the last endpoint leaves
    for h in cl.hosts:
        wait_for(lambda h=h: h.api("GET", "/networks/ovr")[0] == 404, what="ovr gone")
        wait_for(lambda h=h: not devices(h, nid), what="bridge and vxlan gone")
    assert keys_of(cl, nid) == []


def test_name_vni_and_subnet_are_reusable(cl):
    a, b, c = cl.hosts
    nid = create(c)
    seen_everywhere(cl, "ovr")
    net = a.network("ovr")
    assert net["Options"]["com.docker.network.driver.overlay.vxlanid_list"] == VNI
    assert net["IPAM"]["Config"][0]["Subnet"] == SUBNET and net["Id"] == nid
    run_on(a, "s1", "ovr")
    run_on(b, "s2", "ovr")
    assert ping(a, "s1", "s2") and ping(b, "s2", "s1")


def test_rm_unused_is_immediate_everywhere(cl):
    a, b, c = cl.hosts
    for n in ("s1",):
        a.cli("rm", "-f", n)
    b.cli("rm", "-f", "s2")
    nid = a.network("ovr")["Id"]
    b.cli("network", "rm", "ovr")
    assert b.api("GET", "/networks/ovr")[0] == 404     # at once where asked
    for h in cl.hosts:
        wait_for(lambda h=h: h.api("GET", "/networks/ovr")[0] == 404 and not devices(h, nid),
                 what="ovr gone")
    assert keys_of(cl, nid) == []


def test_pending_removal_completes_when_the_last_host_dies(cl):
    """The last endpoints are on a host that dies: its lease expires, the others
    finish the removal; the returning host drops the network too."""
    a, _, c = cl.hosts
    nid = create(a)
    seen_everywhere(cl, "ovr")
    run_on(c, "d1", "ovr")
    a.cli("network", "rm", "ovr")
    wait_for(lambda: c.network("ovr").get("Removing"), what="pending on c")
    c.kill9()
    harness.cleanup.kill_netns_processes(harness.cleanup.nsfs_mounts_under(c.dir))
    wait_for(lambda: a.api("GET", "/networks/ovr")[0] == 404, timeout=TTL + 6,
             what="removal finished after c's lease expired")
    assert keys_of(cl, nid) == []
    c.start(*c.daemon_args)
    wait_for(lambda: c.api("GET", "/networks/ovr")[0] == 404 and not devices(c, nid),
             what="ovr gone on the returning host")
