"""A daemon killed half-way through a disconnect or a connect, replayed exactly.

`network disconnect` retires the veth pair in a few netlink requests on each
end at once (kernel/linkops.py: each end down, the container's loses its IPv4
addresses, both renamed ``bxgc-``, the pair deleted in the background), and
the endpoint leaves the store only after that.  test_crash.py kills the daemon
at random moments; here each state such a kill can leave is built by hand
while the daemon is dead, so every one of them is tried on every run.  After
the restart the disconnect never happened (it was never acknowledged): the
container is on the network with its address, one interface per endpoint,
up, reachable, and no retired link is left on the host or in the container.

The last test replays a connect cut short after the endpoint was stored but
before the container's record named the network: the restart removes that
endpoint, and its pair is gone from the container when the API answers.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from contextlib import closing

import pytest

from integration.checks import container_links, veth_consistency
from integration.harness import run

pytestmark = pytest.mark.kernel

NET = "rt-b"
NAMES = ("rt-x", "rt-peer")


@pytest.fixture(scope="module")
def rig(host):
    """rt-x on rt-a and rt-b (10.249.0.0/24), rt-peer on rt-b."""
    host.cli("network", "create", "--subnet", "10.248.0.0/24", "rt-a")
    host.cli("network", "create", "--subnet", "10.249.0.0/24", NET)
    host.cli("run", "-d", "--name", "rt-x", "--network", "rt-a", "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "rt-peer", "--network", NET, "busybox", "sleep", "3600")
    return host


def garbage() -> str:
    """A name as kernel/linkgc.py gives a retired link."""
    return "bxgc-" + secrets.token_hex(5)


def retired_links(h, container: str) -> list[str]:
    """bxgc- links on the host and in the container."""
    names = [n for n in h.link_names() if n.startswith("bxgc-")]
    return names + [f"{container}/{i['ifname']}" for i in container_links(h, container)
                    if i["ifname"].startswith("bxgc-")]


def fresh_connect(h) -> None:
    """rt-x connected to rt-b anew (a failed case before may have left it connected)."""
    if NET in h.inspect("rt-x")["NetworkSettings"]["Networks"]:
        h.cli("network", "disconnect", NET, "rt-x")
    h.cli("network", "connect", NET, "rt-x")


# What a SIGKILL during retire_veth can leave: (commands in the container's
# netns, commands in the host netns); {c} is the container's end, {h} the host's.
CUT_SHORT = {
    "container end down": (["ip link set {c} down"], []),
    "container end down, no IPv4": (["ip link set {c} down", "ip -4 addr flush dev {c}"], []),
    "container end retired": (["ip link set {c} down", "ip -4 addr flush dev {c}",
                               "ip link set {c} name {g}"], []),
    "host end down": ([], ["ip link set {h} down"]),
    "host end retired": ([], ["ip link set {h} down", "ip link set {h} name {g}"]),
    "both ends retired": (["ip link set {c} down", "ip -4 addr flush dev {c}",
                           "ip link set {c} name {g}"],
                          ["ip link set {h} down", "ip link set {h} name {g2}"]),
}


@pytest.mark.parametrize("state", sorted(CUT_SHORT))
def test_disconnect_cut_short_is_undone_at_restart(rig, state):
    """The restart finds a half-retired pair of a stored endpoint: plumbed again."""
    h = rig
    fresh_connect(h)
    pid = h.inspect("rt-x")["State"]["Pid"]
    ip = h.ip_of("rt-x", NET)
    ep = h.inspect("rt-x")["NetworkSettings"]["Networks"][NET]
    inner = next(i["ifname"] for i in container_links(h, "rt-x")
                 if any(a.get("local") == ip for a in i.get("addr_info", [])))
    host_end = "veth" + ep["EndpointID"][:11]
    assert host_end in h.link_names(), "control: the endpoint's host end is there"
    h.kill9()
    in_ctr, in_host = CUT_SHORT[state]
    names = {"c": inner, "h": host_end, "g": garbage(), "g2": garbage()}
    for cmd in in_ctr:   # the API is down: the container's netns through its pid
        run(["nsenter", f"--net=/proc/{pid}/ns/net", "sh", "-c", cmd.format(**names)])
    for cmd in in_host:
        h.sh(cmd.format(**names))
    h.start(*h.daemon_args)
    info = h.inspect("rt-x")
    assert info["State"]["Running"] and info["State"]["Pid"] == pid, "rt-x was restarted"
    assert info["NetworkSettings"]["Networks"][NET]["IPAddress"] == ip, "its address changed"
    assert not retired_links(h, "rt-x"), f"{state}: retired links left after the restart"
    up = {i["ifname"]: i for i in container_links(h, "rt-x")}
    assert inner in up and "UP" in up[inner]["flags"], f"{state}: {inner} not up: {up}"
    veth_consistency(h, list(NAMES))
    r = h.exec("rt-x", "ping", "-c1", "-W2", h.ip_of("rt-peer", NET))
    assert r.returncode == 0, f"{state}: rt-x cannot reach rt-peer after the restart"
    h.cli("network", "disconnect", NET, "rt-x")


def _drop_network_from_record(h, container_id: str, network_id: str) -> None:
    """The container's stored record as it was before the connect saved it."""
    with closing(sqlite3.connect(h.data_root / "boxnet.db", timeout=10)) as db:
        (data,) = db.execute("SELECT data FROM containers WHERE id = ?", (container_id,)).fetchone()
        rec = json.loads(data)
        assert network_id in rec["networks"], "control: the record names the network"
        del rec["networks"][network_id]
        db.execute("UPDATE containers SET data = ? WHERE id = ?",
                   (json.dumps(rec).encode(), container_id))
        db.commit()


def test_connect_cut_short_before_the_container_record(rig):
    """Endpoint stored and plumbed, container record not yet saved: the restart
    removes the endpoint, and nothing of its pair is left when the API answers."""
    h = rig
    fresh_connect(h)
    info = h.inspect("rt-x")
    net_id = info["NetworkSettings"]["Networks"][NET]["NetworkID"]
    h.kill9()
    _drop_network_from_record(h, info["Id"], net_id)
    h.start(*h.daemon_args)
    assert NET not in h.inspect("rt-x")["NetworkSettings"]["Networks"]
    assert not retired_links(h, "rt-x"), "the removed endpoint's pair is still there"
    veth_consistency(h, list(NAMES))
    h.cli("network", "connect", NET, "rt-x")   # and it can connect again
    r = h.exec("rt-x", "ping", "-c1", "-W2", h.ip_of("rt-peer", NET))
    assert r.returncode == 0, "rt-x cannot reach rt-peer after connecting again"
    h.cli("network", "disconnect", NET, "rt-x")
