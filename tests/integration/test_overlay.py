"""Overlay networks across three test hosts with etcd (issue 9).

Three host netns on a test underlay, each with its own boxnetd joined to an
etcd started here (tests/integration/multihost.py).  What a user sees:
networks created on one host are listed alike everywhere, containers on
different hosts reach each other by IP and by name, overlays are isolated,
addresses are never handed out twice, and failures (a dead host, a stopped
etcd, a lost etcd member) are survived.  Tests of one module share the
cluster and run in file order (the failure tests last).
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import sys
import time

import pytest

from integration import harness
from integration import netprobe
from integration.multihost import Cluster, wait_for
from integration.outside import Outside

pytestmark = pytest.mark.kernel
TTL = 4


def _need_etcd() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (netns, VXLAN, runc)")
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
        pytest.skip("etcd not installed (apt-get install etcd-server etcd-client; "
                    "scripts/install.sh --dev does it)")


@pytest.fixture(scope="module")
def cl():
    """Three hosts, one etcd node, lease TTL 4 s."""
    _need_etcd()
    c = Cluster(hosts=3, etcd_nodes=1, ttl=TTL)
    yield c
    problems = c.teardown()
    assert not problems, problems


def ping(h, src: str, dst: str, tries: int = 3) -> bool:
    """One ICMP echo from container ``src`` on host ``h`` (a few tries)."""
    return any(h.exec(src, "ping", "-c1", "-W1", dst).returncode == 0 for _ in range(tries))


def run_on(h, name: str, net: str, *extra: str) -> str:
    """Start a sleeping busybox on ``net``; its overlay address."""
    h.cli("run", "-d", "--name", name, "--network", net, *extra, "busybox", "sleep", "3600")
    return h.ip_of(name, net)


def fdb_vteps(h, net_id: str) -> set[str]:
    """Remote VTEPs in the network's VXLAN FDB on host ``h``."""
    out = h.sh(f"bridge fdb show dev vx-{net_id[:12]}", check=False).stdout
    return {line.split(" dst ")[1].split()[0] for line in out.splitlines() if " dst " in line}


def fdb_macs(h, net_id: str) -> set[str]:
    """MACs with a static VXLAN destination (not the bridge's learned entries)."""
    out = h.sh(f"bridge fdb show dev vx-{net_id[:12]}", check=False).stdout
    return {line.split()[0] for line in out.splitlines() if " dst " in line}


def test_network_is_global_and_alike_everywhere(cl):
    a, b, c = cl.hosts
    a.cli("network", "create", "-d", "overlay", "--attachable", "ov1")
    views = [wait_for(lambda h=h: h.api("GET", "/networks/ov1")[1]
                      if h.api("GET", "/networks/ov1")[0] == 200 else None, what="ov1")
             for h in (a, b, c)]
    assert {v["Id"] for v in views} == {views[0]["Id"]}
    assert all(v["Scope"] == "global" and v["Driver"] == "overlay" for v in views)
    assert {v["IPAM"]["Config"][0]["Subnet"] for v in views} == {"10.0.0.0/24"}
    assert views[0]["Options"]["com.docker.network.driver.mtu"] == "1450"  # underlay 1500 - 50
    vni = views[0]["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
    link = [li for li in b.links() if li["ifname"] == "vx-" + views[0]["Id"][:12]][0]
    assert link["mtu"] == 1450 and link["linkinfo"]["info_data"]["id"] == int(vni)
    assert "ov1" in c.cli("network", "ls", "--filter", "scope=global").stdout


def test_cross_host_ping_by_ip_and_name(cl):
    a, b, c = cl.hosts
    ips = {"c1": run_on(a, "c1", "ov1"), "c2": run_on(b, "c2", "ov1"),
           "c3": run_on(c, "c3", "ov1")}
    assert len(set(ips.values())) == 3
    assert ping(a, "c1", ips["c2"]) and ping(a, "c1", ips["c3"])
    assert ping(b, "c2", ips["c1"]) and ping(c, "c3", ips["c2"])
    # names of containers on other hosts resolve (embedded DNS, fed by the watch)
    r = wait_for(lambda: a.exec("c1", "nslookup", "c3", "127.0.0.11").returncode == 0 and
                 a.exec("c1", "nslookup", "c3", "127.0.0.11"), timeout=10, what="c3 in DNS")
    assert ips["c3"] in r.stdout
    assert ping(b, "c2", "c1")
    peers = a.network("ov1")["Peers"]
    assert sorted((p["IP"], p["Endpoints"]) for p in peers) == \
        [(h.underlay_ip, 1) for h in cl.hosts]


def test_two_overlays_are_isolated(cl):
    a, b, _ = cl.hosts
    b.cli("network", "create", "-d", "overlay", "ov2")
    wait_for(lambda: a.api("GET", "/networks/ov2")[0] == 200, what="ov2 on a")
    ip_x = run_on(a, "x1", "ov2")
    ip_c2 = b.ip_of("c2", "ov1")
    assert ip_x.rsplit(".", 1)[0] != ip_c2.rsplit(".", 1)[0]
    assert not ping(a, "x1", ip_c2, tries=1)
    assert not ping(b, "c2", ip_x, tries=1)
    run_on(b, "x2", "ov2")
    assert ping(b, "x2", ip_x)           # the probe itself works inside ov2


def default_route(h, name: str) -> str:
    """The container's default route line, as `ip route` inside it shows it."""
    routes = h.exec(name, "ip", "route", check=True).stdout.splitlines()
    return next((r.strip() for r in routes if r.startswith("default")), "")


def test_outbound_leaves_through_the_gateway_bridge(cl):
    """As Docker's docker_gwbridge: eth1 on a local NAT bridge, ICC off, carries
    the default route; the outside sees the host's address (masquerade)."""
    a = cl.hosts[0]
    gw = a.network("boxnet_gwbridge")
    assert gw["Driver"] == "bridge" and gw["Scope"] == "local"
    assert gw["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert "boxnet_gwbridge" in a.cli("network", "ls").stdout
    gw_ip = gw["IPAM"]["Config"][0]["Gateway"]
    assert default_route(a, "c1").startswith(f"default via {gw_ip} dev eth1")
    assert "c1" in {e["Name"] for e in gw["Containers"].values()}
    nets = a.inspect("c1")["NetworkSettings"]["Networks"]
    assert list(nets) == ["ov1"] and nets["ov1"]["Gateway"] == ""   # as Docker shows it
    out = Outside(a)
    try:
        out.popen([sys.executable, "-c", netprobe.SERVER, "7070"])
        seen = wait_for(lambda: netprobe.probe(netprobe.netns_of(a, "c1"), "tcp", out.ip, 7070),
                        what="outside server through the gateway bridge")
        assert seen == out.host_ip          # masqueraded to the host's outside address
        assert ping(a, "c1", out.ip)
    finally:
        out.teardown()


def test_host_and_other_networks_cannot_reach_the_overlay(cl):
    """The host has no address on the overlay bridge: neither the host netns nor a
    container on a local bridge reaches overlay addresses; the gwbridge (ICC off)
    does not connect overlay containers either."""
    a = cl.hosts[0]
    nid = a.network("ov1")["Id"]
    ip1 = a.ip_of("c1", "ov1")
    assert a.sh(f"ip -4 addr show dev ov-{nid[:12]}").stdout.count("inet ") == 0
    assert not netprobe.ping(a.netns, ip1, tries=2)
    a.cli("run", "-d", "--name", "local1", "busybox", "sleep", "3600")
    try:
        assert not ping(a, "local1", ip1, tries=1)
    finally:
        a.cli("rm", "-f", "local1")
    # ov2's x1 is on the gwbridge too; ICC off there keeps it from c1
    gw = a.network("boxnet_gwbridge")["Containers"]
    gw_ips = {e["Name"]: e["IPv4Address"].split("/")[0] for e in gw.values()}
    assert not ping(a, "c1", gw_ips["x1"], tries=1)


def test_gateway_endpoint_follows_the_networks(cl):
    """A bridge network connected takes over the default route (the gwbridge endpoint
    goes); disconnected, the gwbridge endpoint is back; an internal overlay has none."""
    a, b, _ = cl.hosts
    a.cli("network", "create", "lan1")
    a.cli("network", "connect", "lan1", "c1")
    lan_gw = a.network("lan1")["IPAM"]["Config"][0]["Gateway"]
    assert default_route(a, "c1").startswith(f"default via {lan_gw} ")
    assert "c1" not in {e["Name"] for e in a.network("boxnet_gwbridge")["Containers"].values()}
    a.cli("network", "disconnect", "lan1", "c1")
    a.cli("network", "rm", "lan1")
    gw_ip = a.network("boxnet_gwbridge")["IPAM"]["Config"][0]["Gateway"]
    assert default_route(a, "c1").startswith(f"default via {gw_ip} ")
    assert ping(b, "c2", "c1")              # the overlay itself is untouched
    a.cli("network", "create", "-d", "overlay", "--internal", "ovi")
    run_on(a, "i1", "ovi")
    assert default_route(a, "i1") == ""
    assert "i1" not in {e["Name"] for e in a.network("boxnet_gwbridge")["Containers"].values()}
    a.cli("rm", "-f", "i1")
    a.cli("network", "rm", "ovi")


def test_concurrent_connects_never_duplicate(cl):
    names = []
    for i, h in enumerate(cl.hosts):
        for j in range(4):
            n = f"k{i}{j}"
            h.cli("run", "-d", "--name", n, "busybox", "sleep", "3600")
            names.append((h, n))
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(lambda hn: hn[0].cli("network", "connect", "ov1", hn[1]), names))
    addrs = [h.ip_of(n, "ov1") for h, n in names]
    addrs += [cl.hosts[0].ip_of("c1", "ov1"), cl.hosts[1].ip_of("c2", "ov1"),
              cl.hosts[2].ip_of("c3", "ov1")]
    assert len(addrs) == len(set(addrs)), sorted(addrs)
    for h, n in names:
        h.cli("rm", "-f", n)


def test_bad_input(cl, make_host):
    a, b, _ = cl.hosts
    single = make_host()
    r = single.cli("network", "create", "-d", "overlay", "nope", check=False)
    assert r.returncode != 0 and "--cluster-store" in r.stderr
    assert "nope" not in single.cli("network", "ls").stdout
    a.cli("network", "create", "--subnet", "10.77.0.0/24", "localnet")
    r = a.cli("network", "create", "-d", "overlay", "--subnet", "10.77.0.0/24", "ovx", check=False)
    assert r.returncode != 0 and "overlaps" in r.stderr
    vni = a.network("ov1")["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
    r = b.cli("network", "create", "-d", "overlay", "-o", f"vxlanid_list={vni}", "ovy",
              check=False)
    assert r.returncode != 0 and f"VNI {vni}" in r.stderr
    r = b.cli("network", "create", "-d", "overlay", "ov1", check=False)
    assert r.returncode != 0 and "already exists" in r.stderr
    keys = cl.etcdctl("get", "--prefix", "/boxnet/netnames/", "--keys-only").stdout.split()
    assert sorted(keys) == ["/boxnet/netnames/ov1", "/boxnet/netnames/ov2"]
    a.cli("network", "rm", "localnet")
    # an unreachable store at start: a clear error, the daemon does not run
    lone = make_host(start=False)
    with pytest.raises(AssertionError) as exc:
        lone.start("--cluster-store", "etcd://192.0.2.1:2379", "--cluster-advertise", "127.0.0.1")
    assert "cannot join the cluster" in str(exc.value) and "unreachable" in str(exc.value)


def test_network_rm_pending_while_used_elsewhere(cl):
    """(test_overlay_removal.py has the full story.)"""
    a, b, _ = cl.hosts
    r = a.cli("network", "rm", "ov2", check=False)   # x1 runs here
    assert r.returncode != 0 and "active endpoints" in r.stderr
    a.cli("rm", "-f", "x1")
    a.cli("network", "rm", "ov2")                    # x2 still runs on b: pending
    assert b.api("GET", "/networks/ov2")[0] == 200
    b.cli("rm", "-f", "x2")
    for h in (a, b):
        wait_for(lambda h=h: h.api("GET", "/networks/ov2")[0] == 404, what="ov2 gone")


def test_daemon_restart_keeps_and_republishes_endpoints(cl):
    """boxnetd restarted quickly keeps its lease (no flap); killed for longer than the
    TTL its entries go, and its restart re-publishes the still-running containers."""
    a, b, _ = cl.hosts
    nid = a.network("ov1")["Id"]
    ip2 = b.ip_of("c2", "ov1")
    gw_eps = b.network("boxnet_gwbridge")["Containers"]
    b.restart()
    assert b.underlay_ip in fdb_vteps(a, nid)
    assert ping(a, "c1", ip2)
    assert b.network("boxnet_gwbridge")["Containers"] == gw_eps   # kept, not re-made
    assert " dev eth1" in default_route(b, "c2")
    b.kill9()
    wait_for(lambda: b.underlay_ip not in fdb_vteps(a, nid), timeout=TTL + 4,
             what="b's peers dropped")
    b.start(*b.daemon_args)
    wait_for(lambda: b.underlay_ip in fdb_vteps(a, nid), what="b re-published")
    assert ping(a, "c1", ip2) and ping(b, "c2", "c1")


def test_dead_host_is_dropped_within_ttl_and_rejoins(cl):
    a, b, c = cl.hosts
    nid = a.network("ov1")["Id"]
    assert c.underlay_ip in fdb_vteps(a, nid)
    c.kill9()
    harness.cleanup.kill_netns_processes(harness.cleanup.nsfs_mounts_under(c.dir))
    t0 = time.monotonic()
    wait_for(lambda: c.underlay_ip not in fdb_vteps(a, nid) and
             c.underlay_ip not in fdb_vteps(b, nid), timeout=TTL + 4, what="c's peers dropped")
    assert time.monotonic() - t0 <= TTL + 4
    assert a.exec("c1", "nslookup", "c3", "127.0.0.11").returncode != 0
    c.start(*c.daemon_args)
    ip = run_on(c, "c3b", "ov1")
    assert ping(a, "c1", ip)
    assert wait_for(lambda: c.underlay_ip in fdb_vteps(a, nid), what="c back")


def test_etcd_down_traffic_flows_and_global_ops_fail_clearly(cl):
    a, b, c = cl.hosts
    ip2 = b.ip_of("c2", "ov1")
    mac2 = b.inspect("c2")["NetworkSettings"]["Networks"]["ov1"]["MacAddress"]
    nid = a.network("ov1")["Id"]
    assert mac2 in fdb_macs(a, nid)
    cl.etcd[0].stop()
    try:
        assert ping(a, "c1", ip2)
        b.cli("rm", "-f", "c2")        # a local change while the store is away
        r = a.cli("network", "create", "-d", "overlay", "ov3", check=False)
        assert r.returncode != 0 and "unreachable" in r.stderr
        st, body = a.api("POST", "/networks/create", json={"Name": "ov4", "Driver": "overlay"})
        assert st == 503 and "cluster store" in body["message"]
        assert "ov3" not in a.cli("network", "ls").stdout
    finally:
        cl.etcd[0].start()
        cl.etcd[0].wait_ready()
    wait_for(lambda: b.cli("run", "-d", "--name", "late", "--network", "ov1", "busybox",
                           "sleep", "3600", check=False).returncode == 0,
             timeout=15, interval=1, what="connect after etcd is back")
    assert ping(a, "c1", b.ip_of("late", "ov1"), tries=10)
    wait_for(lambda: mac2 not in fdb_macs(a, nid), what="c2 gone from a after the store is back")


def test_three_node_etcd_survives_a_member_loss():
    """A separate two-host cluster on a three-member etcd; one member killed."""
    _need_etcd()
    cl3 = Cluster(hosts=2, etcd_nodes=3, ttl=TTL)
    try:
        a, b = cl3.hosts
        a.cli("network", "create", "-d", "overlay", "ovm")
        wait_for(lambda: b.api("GET", "/networks/ovm")[0] == 200, what="ovm on b")
        run_on(a, "m1", "ovm")
        cl3.etcd[0].stop(signal.SIGKILL)
        ip2 = run_on(b, "m2", "ovm")
        assert ping(a, "m1", ip2, tries=10)
        b.cli("network", "create", "-d", "overlay", "ovm2")
        wait_for(lambda: a.api("GET", "/networks/ovm2")[0] == 200, what="ovm2 on a")
    finally:
        problems = cl3.teardown()
    assert not problems, problems
