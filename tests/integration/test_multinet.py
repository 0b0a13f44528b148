"""Several networks: a container connected to two reaches peers on both, and
containers on two different user networks cannot reach each other (ICMP and
TCP, IPv4 and IPv6, both directions), while the same probes work inside one
network (so the isolation tests can fail)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.kernel

PORT = "7777"
# A persistent TCP server answering "pong" to every connection.
SERVER = ["busybox", "sh", "-c", f"nc -ll -p {PORT} -e echo pong"]


@pytest.fixture(scope="module")
def nets(host):
    """net-a: a1, a2; net-b: b1; net-c/net-d dual-stack: c1, c2 / d1; multi on net-a then net-b."""
    host.cli("network", "create", "net-a")
    host.cli("network", "create", "net-b")
    host.cli("network", "create", "--ipv6", "--subnet", "10.241.0.0/24",
             "--subnet", "fd00:c::/64", "net-c")
    host.cli("network", "create", "--ipv6", "--subnet", "10.242.0.0/24",
             "--subnet", "fd00:d::/64", "net-d")
    for name, net in (("a1", "net-a"), ("a2", "net-a"), ("b1", "net-b"),
                      ("c1", "net-c"), ("c2", "net-c"), ("d1", "net-d")):
        host.cli("run", "-d", "--name", name, "--network", net, *SERVER)
    host.cli("run", "-d", "--name", "multi", "--network", "net-a", "busybox", "sleep", "3600")
    return host


def ping(host, src: str, dst: str, v6: bool = False, tries: int = 1):
    """Ping once (IPv6 retried while DAD may still hold the address); True on reply."""
    args = ["ping", "-6"] if v6 else ["ping"]
    for _ in range(tries):
        if host.exec(src, *args, "-c1", "-W2", dst).returncode == 0:
            return True
    return False


def tcp(host, src: str, dst: str) -> bool:
    """Connect to dst:PORT from src; True when the server's "pong" comes back."""
    r = host.exec(src, "sh", "-c", f"timeout 3 nc -w2 {dst} {PORT} </dev/null")
    return r.returncode == 0 and "pong" in r.stdout


def test_connect_running_container(nets):
    """A running container connected to a second network reaches peers on both."""
    h = nets
    assert h.inspect("multi")["State"]["Running"]
    h.cli("network", "connect", "net-b", "multi")
    info = h.inspect("multi")
    assert set(info["NetworkSettings"]["Networks"]) == {"net-a", "net-b"}
    ip_b = h.ip_of("multi", "net-b")
    links = h.exec("multi", "ip", "-o", "-4", "addr", check=True).stdout
    assert ip_b + "/" in links and h.ip_of("multi", "net-a") + "/" in links
    assert ping(h, "multi", h.ip_of("a1", "net-a"))
    assert ping(h, "multi", h.ip_of("b1", "net-b"))
    assert ping(h, "b1", ip_b) and ping(h, "a1", h.ip_of("multi", "net-a"))
    assert tcp(h, "multi", h.ip_of("b1", "net-b"))


def test_disconnect_running_container(nets):
    """Disconnect removes the interface and the reachability."""
    h = nets
    if "net-b" not in h.inspect("multi")["NetworkSettings"]["Networks"]:
        h.cli("network", "connect", "net-b", "multi")
    ip_b = h.ip_of("multi", "net-b")
    h.cli("network", "disconnect", "net-b", "multi")
    assert set(h.inspect("multi")["NetworkSettings"]["Networks"]) == {"net-a"}
    assert ip_b + "/" not in h.exec("multi", "ip", "-o", "addr", check=True).stdout
    assert not ping(h, "multi", h.ip_of("b1", "net-b"))
    assert ping(h, "multi", h.ip_of("a1", "net-a"))


def test_forwarding_on(nets):
    """Isolation must come from boxnet's rules, not from routing being off (Docker enables it)."""
    assert nets.sysctl("net.ipv4.ip_forward") == "1"


def test_same_network_reachable(nets):
    """Control: ICMP and TCP work inside one network."""
    h = nets
    assert ping(h, "a2", h.ip_of("a1", "net-a"))
    assert tcp(h, "a2", h.ip_of("a1", "net-a"))
    assert tcp(h, "a1", h.ip_of("a2", "net-a"))


@pytest.mark.parametrize("src,dst,dst_net", [("a1", "b1", "net-b"), ("b1", "a1", "net-a")])
def test_isolation_icmp(nets, src, dst, dst_net):
    """No ping across two user networks."""
    assert not ping(nets, src, nets.ip_of(dst, dst_net)), f"{src} pinged {dst} across networks"


@pytest.mark.parametrize("src,dst,dst_net", [("a1", "b1", "net-b"), ("b1", "a1", "net-a")])
def test_isolation_tcp(nets, src, dst, dst_net):
    """No TCP across two user networks."""
    assert not tcp(nets, src, nets.ip_of(dst, dst_net)), f"{src} reached {dst}:{PORT} across networks"


def test_same_network_reachable_ipv6(nets):
    """Control: ICMPv6 and TCP over IPv6 work inside one network."""
    h = nets
    assert ping(h, "c2", h.ip_of("c1", "net-c", v6=True), v6=True, tries=3)
    assert tcp(h, "c2", h.ip_of("c1", "net-c", v6=True))


@pytest.mark.parametrize("src,dst,dst_net", [("c1", "d1", "net-d"), ("d1", "c1", "net-c")])
def test_isolation_ipv6(nets, src, dst, dst_net):
    """No ICMPv6 or TCP over IPv6 across two dual-stack networks."""
    h = nets
    assert h.sysctl("net.ipv6.conf.all.forwarding") == "1", "IPv6 forwarding off: test meaningless"
    dst_ip = h.ip_of(dst, dst_net, v6=True)
    # the source can reach its own peer or gateway, so a failure below is isolation
    own = h.network(h.inspect(src)["HostConfig"]["NetworkMode"])
    gw6 = next(c["Gateway"] for c in own["IPAM"]["Config"] if ":" in c["Subnet"])
    assert ping(h, src, gw6, v6=True, tries=3)
    assert not ping(h, src, dst_ip, v6=True), f"{src} pinged {dst} over IPv6 across networks"
    assert not tcp(h, src, dst_ip), f"{src} reached {dst} over IPv6 TCP across networks"


def default_via(host, name: str) -> str:
    """The gateway of the container's IPv4 default route ("" if none)."""
    out = host.exec(name, "ip", "-4", "route", "show", "default", check=True).stdout.split()
    return out[out.index("via") + 1] if "via" in out else ""


def gateway_of(host, net: str) -> str:
    """The IPv4 gateway of a network."""
    return next(c["Gateway"] for c in host.network(net)["IPAM"]["Config"] if "." in c["Subnet"])


def test_default_route_follows_gw_priority(nets):
    """The default route moves to the endpoint with the highest gw-priority and back;
    connecting at equal priority leaves it where it is; a reconnect after a
    disconnect of the gateway's network restores it (the route went with the link)."""
    h = nets
    gw_a, gw_b = gateway_of(h, "net-a"), gateway_of(h, "net-b")
    h.cli("run", "-d", "--name", "router", "--network", "net-a", "busybox", "sleep", "3600")
    assert default_via(h, "router") == gw_a
    h.cli("network", "connect", "net-b", "router")           # equal priority: stays
    assert default_via(h, "router") == gw_a
    h.cli("network", "disconnect", "net-b", "router")
    h.cli("network", "connect", "--gw-priority", "10", "net-b", "router")
    assert default_via(h, "router") == gw_b
    h.cli("network", "disconnect", "net-b", "router")        # the route dies with eth1
    assert default_via(h, "router") == gw_a
    h.cli("network", "connect", "--gw-priority", "10", "net-b", "router")
    assert default_via(h, "router") == gw_b
    h.cli("restart", "router")                                # a new sandbox: set afresh
    assert default_via(h, "router") == gw_b
    assert ping(h, "router", h.ip_of("b1", "net-b"))
    h.cli("rm", "-f", "router")
