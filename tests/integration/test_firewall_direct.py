"""What reaches a container from where (issue 14 items 1, 2, 5, 7), on the
real kernel:

* direct routing: from the outside (which routes the container subnets to
  the host) or from another network, a container IP is closed on every port,
  the container side of a published port included (IPv4 and IPv6); only
  host-address:host-port gets in; the host itself still reaches it;
* ports published on 127.0.0.1: a LAN neighbour that sends TCP SYNs or UDP
  datagrams to 127.0.0.1 with the host's MAC (crafted frames on a raw
  socket) gets nothing into the container, while the same frames to the
  host's own address and a port published on it do arrive (control);
* the admin chain matches the original destination of published traffic
  (`ct original proto-dst`): a drop of host port 8080 for a source range
  blocks `-p 8080:7000` for that range only, not 8082 to the same container
  port, not other sources;
* ICC off also closes the routed path: a container that routes a peer's
  address through the gateway, or points the peer's address at the
  gateway's MAC, reaches nothing, either way round, IPv4 and IPv6; published
  ports between them still work through the host's address.  The bridge
  table's ICC drop sees those frames too on this kernel, so one more test
  empties its forward chain and shows the inet table closes the path alone,
  with bridge-nf-call-iptables on and off (a leak there was the old
  `samebr` accept).
"""

from __future__ import annotations

import pytest

from integration.fwprobe import Sniffer, craft, mac_of, serve, stop_all
from integration.netprobe import netns_of, probe, wait_ready
from integration.outside import Outside

pytestmark = pytest.mark.kernel
P = 7000
HOST4, HOST6, OUT4, OUT6 = "198.18.0.1", "fd00:198::1", "198.18.0.2", "fd00:198::2"


@pytest.fixture(scope="module")
def world(host):
    """dr (dual-stack, web publishes 8080, 8081/udp, 8082, 127.0.0.1:9000 and
    :9001/udp), other (a client on another network), icc (ICC off, k1 k2, k2
    publishes 8083), norm (n1 n2, ICC on); the outside routes every subnet."""
    out = Outside(host)
    host.sh(f"ip addr add {HOST6}/64 dev bxo0 nodad")
    out.sh(f"ip addr add {OUT6}/64 dev eth0 nodad && ip -6 route add default via {HOST6}")
    out.sh(f"ip route add 10.60.0.0/16 via {HOST4}")
    host.cli("network", "create", "--ipv6", "--subnet", "10.60.1.0/24", "--subnet",
             "fd00:60:1::/64", "dr")
    host.cli("network", "create", "--subnet", "10.60.2.0/24", "other")
    host.cli("network", "create", "--ipv6", "--subnet", "10.60.3.0/24", "--subnet",
             "fd00:60:3::/64", "-o", "com.docker.network.bridge.enable_icc=false", "icc")
    host.cli("network", "create", "--ipv6", "--subnet", "10.60.4.0/24", "--subnet",
             "fd00:60:4::/64", "norm")
    sleep = ("busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "web", "--network", "dr", "-p", "8080:7000",
             "-p", "8081:7000/udp", "-p", "8082:7000", "-p", "127.0.0.1:9000:7000",
             "-p", "127.0.0.1:9001:7000/udp", *sleep)
    host.cli("run", "-d", "--name", "k2", "--network", "icc", "-p", "8083:7000", *sleep)
    for name, net in (("cl", "other"), ("k1", "icc"), ("n1", "norm"), ("n2", "norm")):
        host.cli("run", "-d", "--name", name, "--network", net, *sleep)
    servers = [serve(host, name, P) for name in ("web", "k2", "cl", "k1", "n1", "n2")]
    try:
        for name in ("web", "k2", "cl", "k1", "n1", "n2"):
            wait_ready(host, name, P)
        yield host, out
    finally:
        stop_all(servers)


def test_container_ip_closed_from_outside_on_every_port_v4_v6(world):
    host, out = world
    web4, web6 = host.ip_of("web", "dr"), host.ip_of("web", "dr", v6=True)
    assert probe(out.netns, "tcp", HOST4, 8080) == OUT4          # the way in
    assert probe(out.netns, "udp", HOST4, 8081) == OUT4
    assert probe(out.netns, "tcp", HOST6, 8080) == OUT6
    for ip in (web4, web6):
        assert probe(out.netns, "tcp", ip, P) is None, f"published container port open on {ip}"
        assert probe(out.netns, "udp", ip, P) is None, f"published container port open on {ip}"
    assert probe(out.netns, "tcp", web4, 22) is None


def test_container_ip_closed_from_another_network_host_still_reaches(world):
    host, out = world
    web4 = host.ip_of("web", "dr")
    cl = netns_of(host, "cl")
    assert probe(cl, "tcp", web4, P) is None
    assert probe(cl, "tcp", HOST4, 8080) is not None             # through the host address
    assert probe(host.netns, "tcp", web4, P) is not None         # the host reaches containers
    assert probe(host.netns, "tcp", host.ip_of("web", "dr", v6=True), P) is not None


@pytest.mark.parametrize("proto,loop_port,public_port", [("tcp", 9000, 8080),
                                                         ("udp", 9001, 8081)])
def test_loopback_published_port_unreachable_with_the_hosts_mac(world, proto, loop_port,
                                                                public_port):
    host, out = world
    ns = netns_of(host, "web")
    host_mac = mac_of(host, "bxo0")
    assert probe(host.netns, proto, "127.0.0.1", loop_port) is not None   # the host's own use
    sn = Sniffer(ns, "eth0", P, secs=4)
    craft(out.netns, "eth0", host_mac, OUT4, "127.0.0.1", proto, loop_port, count=5)
    craft(out.netns, "eth0", host_mac, OUT4, HOST4, proto, public_port, count=5)   # control
    seen = sn.seen()
    # first packets only (a SYN, or a datagram): the outside's RSTs to the SYN-ACKs
    # of the control connections come in too
    from_out = [x for x in seen if x.split()[1] == OUT4 and x.split()[4] in ("0x02", "-")]
    # the control frames were DNATed to the container: crafting and sniffing work
    assert len(from_out) >= 5, seen
    # ...and all of them are the control's: nothing sent to 127.0.0.1 got in
    assert len(from_out) == 5, f"frames for 127.0.0.1:{loop_port} reached the container: {seen}"


def test_ipv6_loopback_publish_is_refused_not_ignored(world):
    host, _ = world
    r = host.cli("run", "-d", "--name", "v6lo", "--network", "dr", "-p", "[::1]:9003:7000",
                 "busybox", "sleep", "3600", check=False)
    try:
        assert r.returncode != 0 and "[::1]" in r.stderr and "127.0.0.1" in r.stderr, r
        assert not host.inspect("v6lo")["State"]["Running"]
        assert "9003" not in host.sh("nft list map inet boxnet pub6").stdout
    finally:
        host.cli("rm", "-f", "v6lo", check=False)


def test_admin_chain_matches_the_original_destination(world):
    host, out = world
    rule = "ip saddr 198.18.0.0/30 meta l4proto tcp ct original proto-dst 8080 drop"
    cl = netns_of(host, "cl")
    assert probe(out.netns, "tcp", HOST4, 8080) == OUT4
    host.sh(f"nft add rule inet boxnet admin {rule}")
    try:
        assert probe(out.netns, "tcp", HOST4, 8080) is None       # that range, that host port
        assert probe(out.netns, "tcp", HOST4, 8082) == OUT4       # same container port 7000
        assert probe(cl, "tcp", HOST4, 8080) is not None          # another source
        host.cli("system", "firewall-reload")
        assert "ct original proto-dst 8080 drop" in host.sh(
            "nft list chain inet boxnet admin").stdout
        assert probe(out.netns, "tcp", HOST4, 8080) is None
    finally:
        host.sh("nft flush chain inet boxnet admin")
    assert probe(out.netns, "tcp", HOST4, 8080) == OUT4


def _nsh(ns: str, cmd: str) -> None:
    from integration.harness import run
    run(["nsenter", f"--net={ns}", "sh", "-c", cmd])


def _gateway(host, net: str, v6: bool) -> str:
    return [c["Gateway"] for c in host.network(net)["IPAM"]["Config"]
            if (":" in c["Subnet"]) == v6][0]


def _routed_probe(host, src: str, dst: str, net: str, how: str, v6: bool) -> str | None:
    """TCP from src to dst's address, sent to the gateway (a route via it, or
    dst's address resolved to the gateway's MAC); the route is removed after."""
    ns, dip, gw = netns_of(host, src), host.ip_of(dst, net, v6=v6), _gateway(host, net, v6)
    ip, plen = ("ip -6", 128) if v6 else ("ip", 32)
    if how == "route":
        setup, undo = f"{ip} route add {dip}/{plen} via {gw}", f"{ip} route del {dip}/{plen}"
    else:
        bridge = "br-" + host.network(net)["Id"][:12]
        gmac = mac_of(host, bridge)
        setup = f"{ip} neigh replace {dip} lladdr {gmac} dev eth0 nud permanent"
        undo = f"{ip} neigh del {dip} dev eth0"
    _nsh(ns, setup)
    try:
        return probe(ns, "tcp", dip, P)
    finally:
        _nsh(ns, undo)


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("how", ["route", "neigh"])
def test_icc_off_blocks_the_routed_path_both_ways(world, how, v6):
    host, out = world
    # control: on an ICC-on network the same routed path works, so it is a real path
    assert _routed_probe(host, "n1", "n2", "norm", how, v6) is not None
    assert _routed_probe(host, "k1", "k2", "icc", how, v6) is None
    assert _routed_probe(host, "k2", "k1", "icc", how, v6) is None
    # bridged, as before: blocked; the published port through the host: open
    assert probe(netns_of(host, "k1"), "tcp", host.ip_of("k2", "icc"), P) is None
    assert probe(netns_of(host, "k1"), "tcp", HOST4, 8083) is not None


@pytest.mark.parametrize("brnf", ["1", "0"], ids=["br_netfilter-on", "br_netfilter-off"])
def test_icc_off_routed_path_closed_by_the_inet_table_alone(make_host, brnf):
    """Defence in depth: on this kernel the bridge table's ICC drop also sees
    the routed frames; with its forward chain emptied the inet table still
    closes the routed path (ICC-off bridges are not accepted as "br . br"),
    whichever way the host set bridge-nf-call-iptables."""
    h = make_host("--firewall-check-interval", "0")     # nothing restores the chain
    h.cli("network", "create", "--ipv6", "--subnet", "10.61.3.0/24", "--subnet",
          "fd00:61:3::/64", "-o", "com.docker.network.bridge.enable_icc=false", "icc")
    h.cli("network", "create", "--ipv6", "--subnet", "10.61.4.0/24", "--subnet",
          "fd00:61:4::/64", "norm")
    for name, net in (("k1", "icc"), ("k2", "icc"), ("n1", "norm"), ("n2", "norm")):
        h.cli("run", "-d", "--name", name, "--network", net, "busybox", "sleep", "3600")
    servers = [serve(h, name, P) for name in ("k1", "k2", "n1", "n2")]
    try:
        for name in ("k1", "k2", "n1", "n2"):
            wait_ready(h, name, P)
        h.sh(f"sysctl -qw net.bridge.bridge-nf-call-iptables={brnf} "
             f"net.bridge.bridge-nf-call-ip6tables={brnf}")
        h.sh("nft flush chain bridge boxnet forward")
        for v6 in (False, True):
            for how in ("route", "neigh"):
                assert _routed_probe(h, "n1", "n2", "norm", how, v6) is not None
                assert _routed_probe(h, "k1", "k2", "icc", how, v6) is None, (how, v6)
                assert _routed_probe(h, "k2", "k1", "icc", how, v6) is None, (how, v6)
    finally:
        stop_all(servers)
