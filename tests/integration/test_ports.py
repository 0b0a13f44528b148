"""Published ports, observed by a server that reports the client address it
saw: from outside the host (source preserved), from the host's loopback and
own address, by hairpin, from another network; UDP, IPv6, random ports,
conflicts (409) and malformed specs (400, nothing changed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from integration import checks
from integration.netprobe import SERVER, netns_of, probe, server_cmd, wait_ready
from integration.outside import Outside

pytestmark = pytest.mark.kernel
P = 7000


@pytest.fixture(scope="module")
def world(host):
    """Outside (v4 + v6), net p1 dual-stack with server s1, net p2 with client c2."""
    out = Outside(host)
    host.sh("ip addr add fd00:198::1/64 dev bxo0 nodad")
    out.sh("ip addr add fd00:198::2/64 dev eth0 nodad && ip -6 route add default via fd00:198::1")
    host.cli("network", "create", "--ipv6", "--subnet", "10.77.0.0/24",
             "--subnet", "fd00:77::/64", "p1")
    host.cli("network", "create", "p2")
    host.cli("run", "-d", "--name", "s1", "--network", "p1", "-p", "8080:7000",
             "-p", "8081:7000/udp", "-p", "7000", "boxnet/host", *server_cmd(P))
    host.cli("run", "-d", "--name", "c2", "--network", "p2", "boxnet/host", *server_cmd(P))
    wait_ready(host, "s1", P)
    wait_ready(host, "c2", P)
    return host, out


def gw(host, net):
    return host.network(net)["IPAM"]["Config"][0]["Gateway"]


def test_outside_client_keeps_its_source_address(world):
    host, out = world
    assert probe(out.netns, "tcp", out.host_ip, 8080) == out.ip


def test_ipv6_published_port_from_outside(world):
    host, out = world
    assert probe(out.netns, "tcp", "fd00:198::1", 8080) == "fd00:198::2"


def test_udp_from_outside(world):
    host, out = world
    assert probe(out.netns, "udp", out.host_ip, 8081) == out.ip


def test_from_the_host_loopback_and_own_address(world):
    host, out = world
    # 127.0.0.1 cannot leave the host: it is masqueraded to the bridge's address
    assert probe(host.netns, "tcp", "127.0.0.1", 8080) == gw(host, "p1")
    assert probe(host.netns, "tcp", out.host_ip, 8080) == out.host_ip


def test_hairpin_and_from_another_network(world):
    host, out = world
    assert probe(netns_of(host, "s1"), "tcp", out.host_ip, 8080) == gw(host, "p1")
    assert probe(netns_of(host, "c2"), "tcp", out.host_ip, 8080) is not None
    # isolation still holds for the container's own address
    assert probe(netns_of(host, "c2"), "tcp", host.ip_of("s1", "p1"), P) is None


def test_random_host_port_is_ephemeral_reported_and_reachable(world):
    host, out = world
    ports = host.inspect("s1")["NetworkSettings"]["Ports"]["7000/tcp"]
    random_ports = {int(b["HostPort"]) for b in ports} - {8080}
    assert len(random_ports) == 1
    hp = random_ports.pop()
    lo, hi = map(int, host.sysctl("net.ipv4.ip_local_port_range").split())
    assert lo <= hp <= hi
    assert f"0.0.0.0:{hp}" in host.cli("port", "s1", "7000").stdout
    assert probe(out.netns, "tcp", out.host_ip, hp) == out.ip


def test_no_direct_access_from_outside_even_to_published_container_ports(world):
    host, out = world
    out.sh("ip route add 10.77.0.0/24 via 198.18.0.1")
    try:
        ip = host.ip_of("s1", "p1")
        assert probe(out.netns, "tcp", out.host_ip, 8080) == out.ip   # the way in
        assert probe(out.netns, "tcp", ip, P) is None          # its container side: closed
        assert probe(out.netns, "udp", ip, 7999) is None       # unpublished
        host.exec("s1", "true")
        c2ip = host.ip_of("c2", "p2")
        out.sh(f"ip route add {c2ip} via 198.18.0.1")
        assert probe(out.netns, "tcp", c2ip, P) is None        # nothing published on c2
    finally:
        out.sh("ip route flush 10.77.0.0/24; true", check=False)


def test_port_conflicts_are_409_and_change_nothing(world):
    host, out = world
    r = host.cli("run", "-d", "--name", "dup", "--network", "p2", "-p", "8080:7000",
                 "busybox", "sleep", "60", check=False)
    assert r.returncode != 0 and "already allocated" in r.stderr
    st, body = host.api("POST", "/containers/dup/start")
    assert st == 409, body
    host.cli("rm", "-f", "dup")
    # a host process already listening on the port
    lsock = "import socket,time;s=socket.socket();s.bind(('0.0.0.0',8555));s.listen();time.sleep(30)"
    p = subprocess.Popen(["nsenter", f"--net={host.netns}", sys.executable, "-c", lsock])
    try:
        for _ in range(50):
            if "8555" in host.sh("ss -ltn").stdout:
                break
        r = host.cli("run", "-d", "--name", "dup2", "-p", "8555:7000", "busybox", "sleep", "60",
                     check=False)
        assert r.returncode != 0 and "in use by a host process" in r.stderr, r.stderr
    finally:
        p.kill()
        p.wait()
    host.cli("rm", "-f", "dup2")


def test_published_port_is_held_against_host_processes(world):
    host, out = world
    code = ("import socket,sys\ns=socket.socket()\n"
            "try:\n s.bind(('0.0.0.0',8080))\nexcept OSError as e:\n print(e.errno); sys.exit(3)")
    r = host.sh(["python3", "-c", code], check=False)
    assert r.returncode == 3


BAD = [
    ({"80/xyz": [{"HostPort": "8080"}]}, "protocol"),
    ({"80-81/tcp": [{"HostPort": "8080-8082"}]}, "unequal"),
    ({"70000/tcp": [{"HostPort": "8080"}]}, "1 to 65535"),
    ({"80/tcp": [{"HostPort": "0-99999"}]}, "host port"),
    ({"80/tcp": [{"HostPort": "abc"}]}, "host port"),
    ({"80/tcp": [{"HostIp": "203.0.113.7", "HostPort": "8080"}]}, "not an address of this host"),
    ({"80/tcp": [{"HostIp": "not-an-ip"}]}, "invalid host IP"),
]


@pytest.mark.parametrize("bindings,msg", BAD)
def test_malformed_port_specs_are_400_and_change_nothing(world, bindings, msg):
    host, out = world
    before = checks.snapshot(host)
    st, body = host.api("POST", "/containers/create",
                        json={"Image": "busybox", "Cmd": ["true"],
                              "HostConfig": {"PortBindings": bindings}})
    assert st == 400 and msg in body["message"], body
    assert checks.snapshot(host) == before


def test_port_range_maps_one_to_one(world):
    host, out = world
    host.cli("run", "-d", "--name", "rng", "--network", "p2", "-p", "9100-9101:7000-7001",
             "boxnet/host", *server_cmd(P))
    try:
        ports = host.inspect("rng")["NetworkSettings"]["Ports"]
        assert ports["7000/tcp"][0]["HostPort"] == "9100"
        assert ports["7001/tcp"][0]["HostPort"] == "9101"
        wait_ready(host, "rng", P)
        assert probe(out.netns, "tcp", out.host_ip, 9100) == out.ip
    finally:
        host.cli("rm", "-f", "rng")
    # the ports are free again once the container is gone
    assert "9100" not in host.nft_ruleset()


def test_publish_all_exposed_ports(world):
    host, out = world
    host.cli("run", "-d", "--name", "pall", "--network", "p2", "--expose", "7000",
             "--expose", "7001/udp", "-P", "boxnet/host", *server_cmd(P))
    try:
        wait_ready(host, "pall", P)
        lines = host.cli("port", "pall").stdout.splitlines()
        assert any(x.startswith("7000/tcp -> 0.0.0.0:") for x in lines), lines
        assert any(x.startswith("7001/udp -> 0.0.0.0:") for x in lines), lines
        hp = int(host.cli("port", "pall", "7000").stdout.splitlines()[0].rsplit(":", 1)[1])
        assert probe(out.netns, "tcp", out.host_ip, hp) == out.ip
        r = host.cli("port", "pall", "7999", check=False)
        assert r.returncode == 1 and "No public port '7999/tcp'" in r.stderr
    finally:
        host.cli("rm", "-f", "pall")


def test_ports_and_antispoofing_survive_a_daemon_restart(world):
    host, out = world
    before = host.inspect("s1")["NetworkSettings"]["Ports"]
    host.restart()
    assert host.inspect("s1")["NetworkSettings"]["Ports"] == before
    hp = int([b for b in before["7000/tcp"] if b["HostPort"] != "8080"][0]["HostPort"])
    assert probe(out.netns, "tcp", out.host_ip, hp) == out.ip
    assert probe(out.netns, "tcp", out.host_ip, 8080) == out.ip
    ep4 = host.sh("nft list set bridge boxnet ep4").stdout
    assert host.ip_of("s1", "p1") in ep4 and host.ip_of("c2", "p2") in ep4


def test_default_binding_address_flag(make_host):
    h = make_host("--ip", "127.0.0.1")
    out = Outside(h)
    h.cli("run", "-d", "--name", "srv", "-p", "8090:7000", "boxnet/host", *server_cmd(P))
    wait_ready(h, "srv", P)
    assert h.inspect("srv")["NetworkSettings"]["Ports"]["7000/tcp"] == \
        [{"HostIp": "127.0.0.1", "HostPort": "8090"}]
    assert probe(h.netns, "tcp", "127.0.0.1", 8090) is not None
    assert probe(out.netns, "tcp", out.host_ip, 8090) is None


def test_network_host_binding_ipv4_option(make_host):
    """The network's com.docker.network.bridge.host_binding_ipv4 is the default binding
    address of its ports (loopback here: the host reaches it, the outside does not); a
    port given an explicit address keeps it."""
    h = make_host()
    out = Outside(h)
    h.cli("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
          "hb-net")
    h.cli("run", "-d", "--name", "hb", "--network", "hb-net", "-p", "8091:7000",
          "-p", f"{out.host_ip}:8092:7000", "boxnet/host", *server_cmd(P))
    wait_ready(h, "hb", P)
    assert h.inspect("hb")["NetworkSettings"]["Ports"]["7000/tcp"] == \
        [{"HostIp": "127.0.0.1", "HostPort": "8091"},
         {"HostIp": out.host_ip, "HostPort": "8092"}]
    assert probe(h.netns, "tcp", "127.0.0.1", 8091) is not None
    assert probe(out.netns, "tcp", out.host_ip, 8091) is None
    assert probe(out.netns, "tcp", out.host_ip, 8092) is not None


def test_no_host_network_flag_refuses_host_containers(make_host):
    h = make_host("--no-host-network")
    r = h.cli("run", "-d", "--name", "hn", "--network", "host", "busybox", "true", check=False)
    assert r.returncode != 0 and "no-host-network" in r.stderr
    st, body = h.api("POST", "/containers/hn/start")
    assert st == 403, body
    h.cli("run", "-d", "busybox", "true")


def test_masquerade_off_and_mtu_options(make_host):
    """enable_ip_masquerade=false: the outside sees the container's own address (the
    LAN routes back to it); the default network masquerades to the host's address.
    com.docker.network.driver.mtu sets the MTU of the bridge and both veth ends."""
    h = make_host()
    out = Outside(h)
    out.popen([sys.executable, "-c", SERVER, str(P)])
    h.cli("network", "create", "--subnet", "10.236.0.0/24", "-o",
          "com.docker.network.bridge.enable_ip_masquerade=false", "-o",
          "com.docker.network.driver.mtu=1400", "nomasq")
    h.cli("network", "create", "--subnet", "10.237.0.0/24", "masq")
    for n in ("nomasq", "masq"):
        h.cli("run", "-d", "--name", f"c-{n}", "--network", n, "busybox", "sleep", "3600")

    def seen(c: str) -> str | None:
        for _ in range(20):
            got = probe(netns_of(h, c), "tcp", out.ip, P)
            if got:
                return got
        return None
    assert seen("c-nomasq") == h.ip_of("c-nomasq", "nomasq")
    assert seen("c-masq") == out.host_ip
    assert h.exec("c-nomasq", "cat", "/sys/class/net/eth0/mtu", check=True).stdout.strip() \
        == "1400"
    assert h.exec("c-masq", "cat", "/sys/class/net/eth0/mtu", check=True).stdout.strip() \
        == "1500"
    bridge = "br-" + h.network("nomasq")["Id"][:12]
    mtus = {link["ifname"]: link["mtu"] for link in h.links()}
    assert mtus[bridge] == 1400
    assert h.network("nomasq")["Options"]["com.docker.network.driver.mtu"] == "1400"
