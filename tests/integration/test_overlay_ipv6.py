"""IPv6 on overlay networks across three test hosts with etcd (issue 9).

``network create -d overlay --ipv6 --subnet 10.20.0.0/24 --subnet fd00:20::/64``
as with Docker: every container gets an IPv6 address claimed in etcd, other
hosts program it as a permanent NDP neighbour on the VXLAN device, and
containers reach each other over IPv6 by address and by name (AAAA from the
embedded DNS).  Static ``--ip6``, concurrent connects, overlapping IPv6
subnets, the release of every key and a daemon restart are checked as a
user sees them.  Tests run in file order on one cluster.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress

import pytest

from integration import netprobe
from integration.multihost import Cluster, wait_for
from integration.test_overlay import TTL, _need_etcd, fdb_vteps, run_on

pytestmark = pytest.mark.kernel
DEFAULT_V6 = ipaddress.ip_network("fd8b:9e4c:7a10::/48")   # allocator.GLOBAL_POOL6


@pytest.fixture(scope="module")
def cl():
    """Three hosts, one etcd node, lease TTL 4 s."""
    _need_etcd()
    c = Cluster(hosts=3, etcd_nodes=1, ttl=TTL)
    yield c
    problems = c.teardown()
    assert not problems, problems


def ping6(h, src: str, dst: str, tries: int = 3) -> bool:
    """One ICMPv6 echo from container ``src`` on host ``h`` (a few tries)."""
    return any(h.exec(src, "ping", "-6", "-c1", "-W1", dst).returncode == 0
               for _ in range(tries))


def keys(cl, prefix: str) -> list[str]:
    """etcd keys under ``prefix``."""
    return cl.etcdctl("get", "--prefix", prefix, "--keys-only").stdout.split()


def test_dual_stack_network_everywhere(cl):
    a, b, c = cl.hosts
    a.cli("network", "create", "-d", "overlay", "--ipv6", "--subnet", "10.20.0.0/24",
          "--subnet", "fd00:20::/64", "ovx")
    for h in (a, b, c):
        nw = wait_for(lambda h=h: h.api("GET", "/networks/ovx")[1]
                      if h.api("GET", "/networks/ovx")[0] == 200 else None, what="ovx")
        assert nw["EnableIPv6"] is True and nw["Scope"] == "global"
        assert [(p["Subnet"], p.get("Gateway")) for p in nw["IPAM"]["Config"]] == \
            [("10.20.0.0/24", "10.20.0.1"), ("fd00:20::/64", "fd00:20::1")]
    # every pool is mirrored in each host's local IPAM: local networks keep off the v6 one
    r = b.cli("network", "create", "--ipv6", "--subnet", "fd00:20::/80", "local6", check=False)
    assert r.returncode != 0 and "overlaps" in r.stderr
    nid = a.network("ovx")["Id"]
    # the host has no address on the overlay, IPv6 included
    assert a.sh(f"ip -6 addr show dev ov-{nid[:12]}").stdout.count("inet6") == 0
    assert a.sh(f"ip -6 addr show dev vx-{nid[:12]}").stdout.count("inet6") == 0


def test_ping6_across_hosts_by_ip_and_name(cl):
    a, b, c = cl.hosts
    for h, n in ((a, "c1"), (b, "c2"), (c, "c3")):
        run_on(h, n, "ovx")
    ips = {n: h.ip_of(n, "ovx", v6=True) for h, n in ((a, "c1"), (b, "c2"), (c, "c3"))}
    assert len(set(ips.values())) == 3
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("fd00:20::/64")
               for ip in ips.values())
    ep = a.inspect("c1")["NetworkSettings"]["Networks"]["ovx"]
    assert ep["GlobalIPv6PrefixLen"] == 64 and ep["IPv6Gateway"] == ""   # as Docker
    assert ep["IPAddress"].startswith("10.20.0.") and ep["Gateway"] == ""
    assert ping6(a, "c1", ips["c2"]) and ping6(a, "c1", ips["c3"])
    assert ping6(c, "c3", ips["c2"]) and ping6(b, "c2", ips["c1"])
    # the remote IPv6 endpoints are permanent NDP entries on the VXLAN device
    nid = a.network("ovx")["Id"]
    neigh = a.sh(f"ip -6 neigh show dev vx-{nid[:12]}").stdout
    assert ips["c2"] in neigh and ips["c3"] in neigh and "PERMANENT" in neigh
    # by name: AAAA answers for containers of other hosts
    r = wait_for(lambda: (lambda p: p if p.returncode == 0 and ips["c3"] in p.stdout else None)(
        a.exec("c1", "nslookup", "-type=aaaa", "c3", "127.0.0.11")),
        timeout=10, what="c3's AAAA")
    assert ips["c3"] in r.stdout
    assert ping6(a, "c1", "c3") and ping6(b, "c2", "c1")
    # the host netns is not on the overlay
    assert not netprobe.ping(a.netns, ips["c1"], tries=2)


def test_static_ip6(cl):
    a, b, _ = cl.hosts
    run_on(b, "s1", "ovx", "--ip6", "fd00:20::99")
    assert b.ip_of("s1", "ovx", v6=True) == "fd00:20::99"
    assert ping6(a, "c1", "fd00:20::99")
    r = a.cli("run", "-d", "--name", "s2", "--network", "ovx", "--ip6", "fd00:20::99",
              "busybox", "sleep", "3600", check=False)
    assert r.returncode != 0 and "already in use" in r.stderr
    r = a.cli("run", "-d", "--name", "s3", "--network", "ovx", "--ip6", "fd00:21::5",
              "busybox", "sleep", "3600", check=False)
    assert r.returncode != 0 and "no configured subnet contains" in r.stderr
    a.cli("rm", "-f", "s2", "s3", check=False)
    b.cli("rm", "-f", "s1")
    assert "/boxnet/ipam/" + a.network("ovx")["Id"] + "/fd00:20::99" not in keys(cl, "/boxnet/ipam/")


def test_default_v6_pool_and_overlap_refused(cl):
    a, b, _ = cl.hosts
    a.cli("network", "create", "-d", "overlay", "--ipv6", "ovauto")
    cfg = a.network("ovauto")["IPAM"]["Config"]
    assert len(cfg) == 2 and ipaddress.ip_network(cfg[1]["Subnet"]).subnet_of(DEFAULT_V6)
    assert ipaddress.ip_network(cfg[1]["Subnet"]).prefixlen == 64
    r = b.cli("network", "create", "-d", "overlay", "--ipv6", "--subnet", "10.21.0.0/24",
              "--subnet", "fd00:20::/48", "ovy", check=False)
    assert r.returncode != 0 and "overlaps the overlay network ovx" in r.stderr
    r = b.cli("network", "create", "-d", "overlay", "--subnet", "fd00:30::/64", "ovz",
              check=False)
    assert r.returncode != 0 and "--ipv6" in r.stderr
    assert not [k for k in keys(cl, "/boxnet/subnets/") if "10.21.0.0" in k or "fd00:30" in k]
    assert sorted(keys(cl, "/boxnet/netnames/")) == ["/boxnet/netnames/ovauto",
                                                      "/boxnet/netnames/ovx"]
    a.cli("network", "rm", "ovauto")
    wait_for(lambda: b.api("GET", "/networks/ovauto")[0] == 404, what="ovauto gone")


def test_ipv6_only_overlay(cl):
    """EnableIPv4 false: one IPv6 pool of the default pool, no IPv4 address."""
    a, _, c = cl.hosts
    a.api_ok("POST", "/networks/create", json={"Name": "ov6", "Driver": "overlay",
                                               "EnableIPv4": False, "EnableIPv6": True})
    wait_for(lambda: c.api("GET", "/networks/ov6")[0] == 200, what="ov6 on c")
    cfg = c.network("ov6")["IPAM"]["Config"]
    assert len(cfg) == 1 and ipaddress.ip_network(cfg[0]["Subnet"]).subnet_of(DEFAULT_V6)
    for h, n in ((a, "o1"), (c, "o2")):
        h.cli("run", "-d", "--name", n, "--network", "ov6", "busybox", "sleep", "3600")
    assert a.inspect("o1")["NetworkSettings"]["Networks"]["ov6"]["IPAddress"] == ""
    assert ping6(a, "o1", c.ip_of("o2", "ov6", v6=True)) and ping6(c, "o2", "o1")
    a.cli("rm", "-f", "o1")
    c.cli("rm", "-f", "o2")
    a.cli("network", "rm", "ov6")
    wait_for(lambda: c.api("GET", "/networks/ov6")[0] == 404, what="ov6 gone")


def test_concurrent_connects_never_duplicate_v6(cl):
    names = []
    for i, h in enumerate(cl.hosts):
        for j in range(4):
            n = f"k{i}{j}"
            h.cli("run", "-d", "--name", n, "busybox", "sleep", "3600")
            names.append((h, n))
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(lambda hn: hn[0].cli("network", "connect", "ovx", hn[1]), names))
    addrs = [h.ip_of(n, "ovx", v6=True) for h, n in names]
    addrs += [h.ip_of(n, "ovx", v6=True) for h, n in zip(cl.hosts, ("c1", "c2", "c3"))]
    assert len(addrs) == len(set(addrs)), sorted(addrs)
    for h, n in names:
        h.cli("rm", "-f", n)


def test_restart_keeps_and_republishes_v6(cl):
    """A quick restart keeps the entries; killed past the TTL its v6 claim and NDP
    entries go, and the restart re-publishes them."""
    a, b, _ = cl.hosts
    nid = a.network("ovx")["Id"]
    ip2 = b.ip_of("c2", "ovx", v6=True)
    claim = f"/boxnet/ipam/{nid}/{ip2}"
    b.restart()
    assert ping6(a, "c1", ip2) and claim in keys(cl, "/boxnet/ipam/")
    b.kill9()
    wait_for(lambda: claim not in keys(cl, "/boxnet/ipam/"), timeout=TTL + 4,
             what="b's v6 claim expired")
    wait_for(lambda: ip2 not in a.sh(f"ip -6 neigh show dev vx-{nid[:12]}").stdout,
             timeout=TTL + 4, what="c2's NDP entry dropped on a")
    b.start(*b.daemon_args)
    wait_for(lambda: claim in keys(cl, "/boxnet/ipam/"), what="v6 claim re-published")
    wait_for(lambda: b.underlay_ip in fdb_vteps(a, nid), what="b re-published")
    assert ping6(a, "c1", ip2, tries=5) and ping6(b, "c2", "c1")


def test_removal_releases_every_key(cl):
    a, b, c = cl.hosts
    nid = a.network("ovx")["Id"]
    for h, n in ((a, "c1"), (b, "c2"), (c, "c3")):
        h.cli("rm", "-f", n)
    wait_for(lambda: not keys(cl, f"/boxnet/ipam/{nid}/"), what="claims released")
    a.cli("network", "rm", "ovx")
    for h in (a, b, c):
        wait_for(lambda h=h: h.api("GET", "/networks/ovx")[0] == 404, what="ovx gone")
    left = [k for k in keys(cl, "/boxnet/") if nid in k or "fd00:20" in k or "10.20.0.0" in k
            or k.endswith("/ovx")]
    assert left == []
    b.cli("network", "create", "--ipv6", "--subnet", "fd00:20::/80", "local6")  # pool freed
    b.cli("network", "rm", "local6")
