"""IPv6 layer 2 (issue 14 item 6), on the real kernel, seen from the containers.

* accept_ra is 0 inside every container (bridge and macvlan), and a router
  advertisement from the host side or from the LAN's router gives a container
  no address and no route (a control container that turns accept_ra on takes
  the very same RA: the frames are valid and do arrive);
* a container cannot send RAs, nor neighbour advertisements for an address
  that is not its own (another container's, the gateway's): the victim sees
  no such frame and its neighbour cache keeps the right MAC (the same spoofed
  NA sent from the host side, unfiltered, does poison it: the attack is real);
* a container's IPv6 sources are its own addresses: a foreign link-local
  source is dropped, its own link-local works (ping to a neighbour's fe80),
  and DAD's "::" source passes.
Frames are crafted in the attacker container's netns (nsenter --net) and leave
from its eth0 (tests/integration/ndp6.py).
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from integration import ndp6
from integration.harness import run
from integration.lan import Lan
from integration.netprobe import netns_of

pytestmark = pytest.mark.kernel
NET = "v6l2"
SLEEP = ("busybox", "sleep", "3600")
BAD_PREFIX = "fd00:bad:1::/64"
ALL_NODES, ALL_NODES_MAC = "ff02::1", "33:33:00:00:00:01"


def _link_local(mac: str) -> str:
    """The kernel's EUI-64 link-local of a MAC (what boxnet's sysctls make it)."""
    b = bytearray(bytes.fromhex(mac.replace(":", "")))
    b[0] ^= 2
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + bytes(b[:3]) + b"\xff\xfe"
                                     + bytes(b[3:])))


class C:
    """One container's identity on NET."""

    def __init__(self, host, name: str, net: str = NET):
        ep = host.inspect(name)["NetworkSettings"]["Networks"][net]
        self.name, self.mac = name, ep["MacAddress"]
        self.ip6, self.ip4 = ep["GlobalIPv6Address"], ep["IPAddress"]
        self.ll = _link_local(self.mac)
        self.ns = netns_of(host, name)

    def sh(self, cmd: str, check: bool = True):
        """A command in this container's netns (as a root process with NET_ADMIN would)."""
        return run(["nsenter", f"--net={self.ns}", "sh", "-c", cmd], check=check)

    def addrs6(self) -> list[str]:
        out = json.loads(self.sh("ip -j -6 addr show dev eth0").stdout or "[]")
        return [a["local"] for i in out for a in i.get("addr_info", [])]

    def routes6(self) -> str:
        return self.sh("ip -6 route show").stdout

    def neigh(self, ip: str) -> str:
        out = json.loads(self.sh(f"ip -j -6 neigh show {ip}").stdout or "[]")
        return (out[0].get("lladdr") or "") if out else ""


def _in_bad_prefix(addrs: list[str]) -> list[str]:
    return [a for a in addrs if a.startswith("fd00:bad:1:")]


def _ra_routes(routes: str) -> list[str]:
    """Routes an RA put there: the RA's prefix, or a default route via a link-local."""
    return [r for r in routes.splitlines() if "proto ra" in r or "fd00:bad:1" in r
            or ("default" in r and "via fe80" in r)]


@pytest.fixture(scope="module")
def world(host):
    """NET (dual stack) with attacker a, victims b and c, control ctl."""
    host.cli("network", "create", "--ipv6", "--subnet", "10.66.0.0/24",
             "--subnet", "fd00:66::/64", NET)
    for key in ("a", "b", "c", "ctl"):
        host.cli("run", "-d", "--name", "l2" + key, "--network", NET, *SLEEP)
    cs = {key: C(host, "l2" + key) for key in ("a", "b", "c", "ctl")}
    # every link-local has finished DAD before anything is measured
    for c in cs.values():
        assert ndp6.wait_for(lambda c=c: "tentative" not in c.sh("ip -6 addr show dev eth0")
                             .stdout, 5), c.sh("ip -6 addr").stdout
    bridge = host.network(NET)["Options"].get("com.docker.network.bridge.name") \
        or "br-" + host.network(NET)["Id"][:12]
    return host, cs, bridge


def _host_side(host, bridge: str) -> tuple[str, str]:
    """(MAC, link-local) of the bridge: the host's side of the network."""
    link = json.loads(host.sh(["ip", "-j", "addr", "show", "dev", bridge]).stdout)[0]
    ll = next(a["local"] for a in link["addr_info"] if a["local"].startswith("fe80"))
    return link["address"], ll


def test_accept_ra_is_off_in_containers(world):
    host, cs, _ = world
    for key in ("net/ipv6/conf/eth0/accept_ra", "net/ipv6/conf/default/accept_ra",
                "net/ipv6/conf/eth0/addr_gen_mode"):
        r = host.exec(cs["b"].name, "cat", f"/proc/sys/{key}")
        assert r.returncode == 0 and r.stdout.strip() == "0", (key, r.stdout, r.stderr)
    # the link-local the firewall trusts is the one the kernel made
    assert cs["b"].ll in cs["b"].addrs6()


def test_router_advertisement_from_the_host_side_is_ignored(world):
    host, cs, bridge = world
    b, ctl = cs["b"], cs["ctl"]
    hmac, hll = _host_side(host, bridge)
    ctl.sh("sysctl -qw net.ipv6.conf.eth0.accept_ra=1")   # the control takes RAs
    try:
        sniff = ndp6.Sniffer(b.ns, seconds=2)
        ndp6.send(host.netns, ifname=bridge, src_mac=hmac, dst_mac=ALL_NODES_MAC, src=hll,
                  dst=ALL_NODES, kind="ra", prefix=BAD_PREFIX)
        assert any(f["type"] == ndp6.RA for f in sniff.frames()), "the RA never reached b"
        assert ndp6.wait_for(lambda: _in_bad_prefix(ctl.addrs6()), 5), \
            "control: a container with accept_ra=1 should have taken the RA's prefix"
        assert not _in_bad_prefix(b.addrs6()), b.addrs6()
        assert not _ra_routes(b.routes6()), b.routes6()
    finally:
        ctl.sh("sysctl -qw net.ipv6.conf.eth0.accept_ra=0; "
               "for a in $(ip -6 -o addr show dev eth0 | grep -o 'fd00:bad:1:[^/]*'); do "
               "ip -6 addr del $a/64 dev eth0; done; ip -6 route flush proto ra; "
               f"ip -6 route del {BAD_PREFIX} dev eth0", check=False)


def test_router_advertisement_from_a_container_never_leaves_its_port(world):
    host, cs, _ = world
    a, b, ctl = cs["a"], cs["b"], cs["ctl"]
    ctl.sh("sysctl -qw net.ipv6.conf.eth0.accept_ra=1")   # would take it, if it came
    try:
        sniff = ndp6.Sniffer(b.ns, seconds=2)
        ndp6.send(a.ns, ifname="eth0", src_mac=a.mac, dst_mac=ALL_NODES_MAC, src=a.ll,
                  dst=ALL_NODES, kind="ra", prefix=BAD_PREFIX)
        # control: a's own echo to all nodes, from its own link-local, does arrive
        ndp6.send(a.ns, ifname="eth0", src_mac=a.mac, dst_mac=ALL_NODES_MAC, src=a.ll,
                  dst=ALL_NODES, kind="echo", ident=0x1111)
        seen = sniff.frames()
        assert any(f["type"] == ndp6.ECHO and f.get("ident") == 0x1111 for f in seen), seen
        assert not [f for f in seen if f["type"] == ndp6.RA], seen
        assert not _in_bad_prefix(ctl.addrs6()) and not _ra_routes(ctl.routes6())
    finally:
        ctl.sh("sysctl -qw net.ipv6.conf.eth0.accept_ra=0", check=False)


def _learn(c: C, ip: str, mac: str) -> None:
    c.sh(f"ping -6 -c1 -W1 {ip} >/dev/null 2>&1 || true", check=False)
    assert ndp6.wait_for(lambda: c.neigh(ip) == mac, 3), (ip, c.neigh(ip), mac)


def test_spoofed_neighbour_advertisements_do_not_reach_the_victim(world):
    host, cs, bridge = world
    a, b, c = cs["a"], cs["b"], cs["c"]
    hmac, _ = _host_side(host, bridge)
    gw = host.network(NET)["IPAM"]["Config"]
    gw6 = next(p["Gateway"] for p in gw if ":" in p["Subnet"])
    _learn(c, b.ip6, b.mac)
    _learn(c, gw6, hmac)
    sniff = ndp6.Sniffer(c.ns, seconds=2.5)
    for target in (b.ip6, gw6, b.ll):          # another container's, the gateway's
        ndp6.send(a.ns, ifname="eth0", src_mac=a.mac, dst_mac=c.mac, src=a.ll, dst=c.ip6,
                  kind="na", target=target)
    ndp6.send(a.ns, ifname="eth0", src_mac=a.mac, dst_mac=c.mac, src=a.ll, dst=c.ip6,
              kind="na", target=a.ip6)         # control: its own address passes
    seen = [f for f in sniff.frames() if f["type"] == ndp6.NA and f["smac"] == a.mac]
    assert {f["target"] for f in seen} == {a.ip6}, seen
    assert c.neigh(b.ip6) == b.mac and c.neigh(gw6) == hmac
    # the host (the gateway) keeps b's MAC too
    ndp6.send(a.ns, ifname="eth0", src_mac=a.mac, dst_mac=hmac, src=a.ll, dst=gw6,
              kind="na", target=b.ip6)
    neigh = host.sh(["ip", "-6", "neigh", "show", b.ip6]).stdout
    assert a.mac not in neigh, neigh
    # the attack is real: the same NA from the (unfiltered) host side poisons c
    ndp6.send(host.netns, ifname=bridge, src_mac=hmac, dst_mac=c.mac, src=_host_side(
        host, bridge)[1], dst=c.ip6, kind="na", target=b.ip6, tlla=a.mac)
    try:
        assert ndp6.wait_for(lambda: c.neigh(b.ip6) == a.mac, 3), c.neigh(b.ip6)
    finally:
        c.sh(f"ip -6 neigh del {b.ip6} dev eth0", check=False)


def test_link_local_sources_are_the_containers_own(world):
    host, cs, _ = world
    a, b = cs["a"], cs["b"]
    # its own link-local works: busybox ping to the neighbour's fe80 address
    r = host.exec(a.name, "ping", "-6", "-c1", "-W2", "-I", "eth0", b.ll)
    assert r.returncode == 0, r.stdout + r.stderr
    sniff = ndp6.Sniffer(b.ns, seconds=2)
    for src, ident in (("fe80::bad", 0x2222), (cs["c"].ll, 0x3333), (a.ll, 0x4444)):
        ndp6.send(a.ns, ifname="eth0", src_mac=a.mac, dst_mac=b.mac, src=src, dst=b.ll,
                  kind="echo", ident=ident)
    # DAD: a neighbour solicitation from "::" still passes
    group = _solicited(b.ip6)
    ndp6.send(a.ns, ifname="eth0", src_mac=a.mac, dst_mac=_multicast_mac(group), src="::",
              dst=group, kind="ns", target=b.ip6)
    seen = sniff.frames()
    idents = {f.get("ident") for f in seen if f["type"] == ndp6.ECHO and f["smac"] == a.mac}
    assert idents == {0x4444}, seen        # fe80::bad and c's link-local were dropped
    assert any(f["type"] == ndp6.NS and f["src"] == "::" and f["target"] == b.ip6
               for f in seen), seen


def _solicited(ip: str) -> str:
    """The solicited-node multicast group of an address (where DAD asks)."""
    low = ipaddress.IPv6Address(ip).packed[-3:]
    return str(ipaddress.IPv6Address(b"\xff\x02" + bytes(9) + b"\x01\xff" + low))


def _multicast_mac(group: str) -> str:
    """33:33 + the low 32 bits of an IPv6 multicast group."""
    return "33:33:" + ":".join(f"{x:02x}" for x in ipaddress.IPv6Address(group).packed[-4:])


@pytest.fixture(scope="module")
def lan(host):
    """A macvlan network on a LAN whose router will send an RA."""
    world = Lan(host.name, router_addrs=("198.19.120.1/24",))
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.120.0/24",
             "--gateway", "198.19.120.1", "-o", "parent=eth1", "mlan")
    host.cli("run", "-d", "--name", "m1", "--network", "mlan", *SLEEP)
    yield world
    host.cli("rm", "-f", "m1", check=False)
    host.cli("network", "rm", "mlan", check=False)
    world.teardown()


def test_macvlan_container_ignores_the_lans_router_advertisements(host, lan):
    m1 = C(host, "m1", "mlan")
    r = host.exec("m1", "cat", "/proc/sys/net/ipv6/conf/eth0/accept_ra")
    assert r.stdout.strip() == "0", r.stdout + r.stderr
    rns = f"/run/netns/{lan.lanhost}"
    link = json.loads(lan.sh(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout)[0]
    rll = next(a["local"] for a in link["addr_info"] if a["local"].startswith("fe80"))
    sniff = ndp6.Sniffer(m1.ns, seconds=2)
    ndp6.send(rns, ifname="eth0", src_mac=link["address"], dst_mac=ALL_NODES_MAC, src=rll,
              dst=ALL_NODES, kind="ra", prefix=BAD_PREFIX)
    assert any(f["type"] == ndp6.RA for f in sniff.frames()), "the RA never reached m1"
    assert not _in_bad_prefix(m1.addrs6()) and not _ra_routes(m1.routes6())


def test_overlay_container_ignores_router_advertisements():
    """The overlay driver's containers get the same netns defaults: accept_ra 0
    before eth0 exists, and an RA flooded on the overlay bridge changes nothing."""
    from integration.multihost import Cluster
    from integration.test_overlay import TTL, _need_etcd
    _need_etcd()
    cl = Cluster(hosts=1, etcd_nodes=1, ttl=TTL)
    try:
        h = cl.hosts[0]
        h.cli("network", "create", "-d", "overlay", "--subnet", "10.21.0.0/24", "ov6l2")
        h.cli("run", "-d", "--name", "ov1", "--network", "ov6l2", *SLEEP)
        ov1 = C(h, "ov1", "ov6l2")
        r = h.exec("ov1", "cat", "/proc/sys/net/ipv6/conf/eth0/accept_ra")
        assert r.stdout.strip() == "0", r.stdout + r.stderr
        bridge = "ov-" + h.network("ov6l2")["Id"][:12]
        mac = json.loads(h.sh(["ip", "-j", "link", "show", "dev", bridge]).stdout)[0]["address"]
        sniff = ndp6.Sniffer(ov1.ns, seconds=2)
        ndp6.send(h.netns, ifname=bridge, src_mac=mac, dst_mac=ALL_NODES_MAC,
                  src=_link_local(mac), dst=ALL_NODES, kind="ra", prefix=BAD_PREFIX)
        assert any(f["type"] == ndp6.RA for f in sniff.frames()), "the RA never reached ov1"
        assert not _in_bad_prefix(ov1.addrs6()) and not _ra_routes(ov1.routes6())
        h.cli("rm", "-f", "ov1")
        h.cli("network", "rm", "ov6l2")
    finally:
        problems = cl.teardown()
    assert not problems, problems
