"""Docker's gateway modes and direct-routing options, probed from an outside
namespace that routes the container subnets to the host (issue 14 item 3):

* `routed`: no NAT either way: the published container port is open on the
  container's address (also to other networks), unpublished ones are not,
  the host port is neither used nor held (inspect shows none), ICMP passes,
  and the outside sees the container's own address;
* `nat-unprotected`: NAT, and every container port is open to direct
  routing from the outside (not from other networks);
* per family: `gateway_mode_ipv6=routed` with IPv4 left `nat`;
* `trusted_host_interfaces`: direct routing to published ports (even one
  published on 127.0.0.1) only through the named host interface;
* `boxnetd --allow-direct-routing`: direct routing to published ports from
  anywhere, unpublished ports still closed;
* `isolated` (with --internal) and `inhibit_ipv4`: no address on the bridge;
* `com.docker.network.container_iface_prefix` names the container's interface;
* bad or unknown options are a 400 naming the option, and nothing is made.
"""

from __future__ import annotations

import json

import pytest

from integration.fwprobe import serve, stop_all
from integration.netprobe import netns_of, ping, probe, wait_ready
from integration.outside import Outside

pytestmark = pytest.mark.kernel
P, Q = 7000, 7001          # servers on both; only P is ever published
HOST4, HOST6, OUT4, OUT6 = "198.18.0.1", "fd00:198::1", "198.18.0.2", "fd00:198::2"
GW4 = "com.docker.network.bridge.gateway_mode_ipv4"
GW6 = "com.docker.network.bridge.gateway_mode_ipv6"
TRUSTED = "com.docker.network.bridge.trusted_host_interfaces"
SLEEP = ("busybox", "sleep", "3600")


def _containers(host, specs):
    """Run busybox containers (name, network, extra run args) with servers on P and Q."""
    procs = []
    for name, net, extra in specs:
        host.cli("run", "-d", "--name", name, "--network", net, *extra, *SLEEP)
        procs += [serve(host, name, P), serve(host, name, Q)]
    for name, _, _ in specs:
        wait_ready(host, name, P)
        wait_ready(host, name, Q)
    return procs


@pytest.fixture(scope="module")
def world(host):
    """Networks rt (routed v4), nu (nat-unprotected), r6 (v6 routed, v4 nat),
    tr (trusted bxo0), plain (nat, client cl); outside on bxo0, a second
    outside on bxo1 (not trusted)."""
    out = Outside(host)
    lan2 = Outside(host, host_addr="198.18.1.1/30", addr="198.18.1.2/30", host_ifname="bxo1")
    host.sh(f"ip addr add {HOST6}/64 dev bxo0 nodad")
    out.sh(f"ip addr add {OUT6}/64 dev eth0 nodad && ip -6 route add default via {HOST6}")
    out.sh(f"ip route add 10.70.0.0/16 via {HOST4} && ip -6 route add fd00:70::/48 via {HOST6}")
    lan2.sh("ip route add 10.70.0.0/16 via 198.18.1.1")
    host.cli("network", "create", "--subnet", "10.70.1.0/24", "-o", f"{GW4}=routed", "rt")
    host.cli("network", "create", "--subnet", "10.70.2.0/24", "-o", f"{GW4}=nat-unprotected", "nu")
    host.cli("network", "create", "--ipv6", "--subnet", "10.70.3.0/24", "--subnet",
             "fd00:70:3::/64", "-o", f"{GW6}=routed", "r6")
    host.cli("network", "create", "--subnet", "10.70.4.0/24", "-o", f"{TRUSTED}=bxo0", "tr")
    host.cli("network", "create", "--subnet", "10.70.5.0/24", "plain")
    procs = _containers(host, [("rt1", "rt", ["-p", "8090:7000"]),
                               ("nu1", "nu", ["-p", "8091:7000"]),
                               ("r61", "r6", ["-p", "8092:7000"]),
                               ("tr1", "tr", ["-p", "127.0.0.1:8093:7000"]),
                               ("cl", "plain", [])])
    try:
        yield host, out, lan2
    finally:
        stop_all(procs)


def test_routed_opens_the_published_container_port_only_without_nat(world):
    host, out, _ = world
    ip = host.ip_of("rt1", "rt")
    assert probe(out.netns, "tcp", ip, P) == OUT4          # no DNAT, source preserved
    assert probe(out.netns, "udp", ip, P) is None          # only 7000/tcp was published
    assert probe(out.netns, "tcp", ip, Q) is None          # unpublished
    assert probe(out.netns, "tcp", HOST4, 8090) is None    # the host port is not used
    assert ping(out.netns, ip, tries=2)                    # ICMP passes in routed mode
    # other networks may route straight to a routed network's published ports
    cl = netns_of(host, "cl")
    assert probe(cl, "tcp", ip, P) == host.ip_of("cl", "plain")
    assert probe(cl, "tcp", ip, Q) is None


def test_routed_mapping_holds_no_host_port(world):
    host, out, _ = world
    # inspect shows no host port, as Docker does
    assert host.inspect("rt1")["NetworkSettings"]["Ports"]["7000/tcp"] == [
        {"HostIp": "0.0.0.0", "HostPort": ""}]
    # the host port is free: a second routed container may name it too, and so
    # may a host process
    host.cli("run", "-d", "--name", "rt2", "--network", "rt", "-p", "8090:7000", *SLEEP)
    procs = [serve(host, "rt2", P)]
    try:
        wait_ready(host, "rt2", P)
        assert probe(out.netns, "tcp", host.ip_of("rt2", "rt"), P) == OUT4
        bind = ("import socket; s = socket.socket(); s.bind(('0.0.0.0', 8090)); "
                "print('bound')")
        assert "bound" in host.sh(["python3", "-c", bind]).stdout
    finally:
        stop_all(procs)
        host.cli("rm", "-f", "rt2")
    assert probe(out.netns, "tcp", host.ip_of("rt1", "rt"), P) == OUT4   # rt1 unaffected


def test_routed_outbound_is_not_masqueraded(world, tmp_path):
    host, out, _ = world
    srv = out.popen(["python3", "-c", _PEER_SERVER, "7300"], log=tmp_path / "peer.log")
    try:
        for name, net, want in (("rt1", "rt", None), ("cl", "plain", HOST4)):
            own = host.ip_of(name, net)
            seen = None
            for _ in range(20):
                seen = probe(netns_of(host, name), "tcp", OUT4, 7300)
                if seen:
                    break
            assert seen == (want or own), f"{name} seen from outside as {seen}"
    finally:
        stop_all([srv])


_PEER_SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
while True:
    c, a = s.accept(); c.sendall((a[0] + "\n").encode()); c.close()
"""


def test_nat_unprotected_opens_every_port_to_direct_routing_not_to_networks(world):
    host, out, _ = world
    ip = host.ip_of("nu1", "nu")
    assert probe(out.netns, "tcp", HOST4, 8091) == OUT4    # NAT still works
    assert probe(out.netns, "tcp", ip, P) == OUT4
    assert probe(out.netns, "tcp", ip, Q) == OUT4          # unpublished too
    assert probe(netns_of(host, "cl"), "tcp", ip, Q) is None  # isolation between networks stays


def test_gateway_mode_per_family(world):
    host, out, _ = world
    ip4, ip6 = host.ip_of("r61", "r6"), host.ip_of("r61", "r6", v6=True)
    assert probe(out.netns, "tcp", ip6, P) == OUT6         # v6 routed: container port open
    assert probe(out.netns, "tcp", ip6, Q) is None
    assert probe(out.netns, "tcp", ip4, P) is None         # v4 nat: direct routing dropped
    assert probe(out.netns, "tcp", HOST4, 8092) == OUT4    # v4 through the host port
    assert probe(out.netns, "tcp", HOST6, 8092) is None    # v6 has no host port


def test_trusted_host_interface_reaches_published_ports_directly(world):
    host, out, lan2 = world
    ip = host.ip_of("tr1", "tr")
    assert probe(out.netns, "tcp", ip, P) == OUT4          # via bxo0 (trusted), 127.0.0.1 port
    assert probe(out.netns, "tcp", ip, Q) is None          # unpublished
    assert probe(lan2.netns, "tcp", ip, P) is None         # via bxo1: not trusted
    assert probe(lan2.netns, "tcp", "198.18.1.1", 8093) is None   # loopback-only port


def test_allow_direct_routing_flag(make_host):
    h = make_host("--allow-direct-routing")
    out = Outside(h)
    try:
        out.sh(f"ip route add 10.71.0.0/16 via {HOST4}")
        h.cli("network", "create", "--subnet", "10.71.1.0/24", "adr")
        procs = _containers(h, [("a1", "adr", ["-p", "8095:7000"])])
        try:
            ip = h.ip_of("a1", "adr")
            assert probe(out.netns, "tcp", ip, P) == OUT4
            assert probe(out.netns, "tcp", ip, Q) is None
            assert probe(out.netns, "tcp", HOST4, 8095) == OUT4
        finally:
            stop_all(procs)
    finally:
        out.teardown()


def _bridge_addrs(host, net: str) -> list[str]:
    br = "br-" + host.network(net)["Id"][:12]
    info = json.loads(host.sh(["ip", "-j", "addr", "show", "dev", br]).stdout)
    return [a["local"] for a in info[0].get("addr_info", [])]


def test_isolated_and_inhibit_ipv4_leave_the_bridge_without_address(make_host):
    h = make_host()
    h.cli("network", "create", "--internal", "--subnet", "10.72.1.0/24", "-o", f"{GW4}=isolated",
          "iso")
    h.cli("network", "create", "--internal", "--subnet", "10.72.2.0/24", "int")
    h.cli("network", "create", "--subnet", "10.72.3.0/24", "-o",
          "com.docker.network.bridge.inhibit_ipv4=true", "inh")
    for name, net in (("s1", "iso"), ("s2", "iso"), ("t1", "int"), ("h1", "inh"), ("h2", "inh")):
        h.cli("run", "-d", "--name", name, "--network", net, *SLEEP)
    assert _bridge_addrs(h, "iso") == []                  # not even an IPv6 link-local
    assert "10.72.2.1" in _bridge_addrs(h, "int")
    assert "10.72.3.1" not in _bridge_addrs(h, "inh")
    assert not ping(h.netns, h.ip_of("s1", "iso"), tries=2)   # the host has no way in
    assert ping(h.netns, h.ip_of("t1", "int"), tries=2)       # plain internal: it has
    assert h.exec("s1", "ping", "-c1", "-W2", h.ip_of("s2", "iso")).returncode == 0
    assert h.exec("h1", "ping", "-c1", "-W2", h.ip_of("h2", "inh")).returncode == 0
    assert h.network("inh")["IPAM"]["Config"][0]["Gateway"] == "10.72.3.1"


@pytest.mark.parametrize("opt,word", [
    (f"{GW4}=bogus", GW4), (f"{GW6}=nat-protected", GW6),
    (f"{GW4}=isolated", "internal"),                     # isolated needs --internal
    (f"{TRUSTED}=eth0:bad/name", TRUSTED),
    ("com.docker.network.bridge.enable_icc_typo=false", "enable_icc_typo"),
    ("com.docker.network.container_iface_prefix=9x", "container_iface_prefix"),
    ("com.docker.network.bridge.default_bridge=true", "default_bridge"),
    ("com.docker.network.bridge.inhibit_ipv4=maybe", "inhibit_ipv4")])
def test_bad_or_unimplemented_bridge_options_are_400(world, opt, word):
    host, _, _ = world
    key, _, val = opt.partition("=")
    status, body = host.api("POST", "/networks/create",
                            json={"Name": "badopt", "Driver": "bridge", "Options": {key: val}})
    assert status == 400, (status, body)
    assert word in body["message"], body
    assert all(n["Name"] != "badopt" for n in host.api_ok("GET", "/networks"))


def test_routed_port_survives_a_daemon_restart(make_host):
    h = make_host()
    out = Outside(h)
    try:
        out.sh(f"ip route add 10.73.0.0/16 via {HOST4}")
        h.cli("network", "create", "--subnet", "10.73.1.0/24", "-o", f"{GW4}=routed", "rr")
        procs = _containers(h, [("q1", "rr", ["-p", "7000"])])
        try:
            ip = h.ip_of("q1", "rr")
            assert probe(out.netns, "tcp", ip, P) == OUT4
            h.kill9()
            h.start(*h.daemon_args)
            assert probe(out.netns, "tcp", ip, P) == OUT4
            assert probe(out.netns, "tcp", ip, Q) is None
            assert h.inspect("q1")["NetworkSettings"]["Ports"]["7000/tcp"][0]["HostPort"] == ""
        finally:
            stop_all(procs)
    finally:
        out.teardown()


def test_container_iface_prefix_names_the_interface(world):
    host, _, _ = world
    host.cli("network", "create", "--subnet", "10.70.9.0/24", "-o",
             "com.docker.network.container_iface_prefix=lan", "pfx")
    try:
        host.cli("run", "-d", "--name", "px", "--network", "plain", *SLEEP)
        host.cli("network", "connect", "pfx", "px")
        links = json.loads(host.sh(["nsenter", f"--net={netns_of(host, 'px')}", "ip", "-j",
                                    "addr", "show"]).stdout)
        names = {x["ifname"]: [a["local"] for a in x.get("addr_info", [])] for x in links}
        assert "eth0" in names and host.ip_of("px", "pfx") in names.get("lan0", []), names
        assert host.exec("px", "ping", "-c1", "-W2", "10.70.9.1").returncode == 0
    finally:
        host.cli("rm", "-f", "px")
        host.cli("network", "rm", "pfx")
