"""IPv6 as Docker 27+ does it (issue 18 item 3), seen from inside containers:

* `--ipv6` without a subnet takes a /64 of the host's ULA /48, derived from the
  engine ID (ipam/ula.py), and the container is reachable over it;
* an IPv6-only network (`--ipv4=false`): no IPv4 on the container's interface,
  AAAA-only DNS (an A query for a peer is NOERROR with no answer), ping6 by
  name, outbound masquerade for its ULA subnet, a published port reached over
  IPv6 from the outside netns ([host v6]:port), ::1 on the container's loopback;
* `routed` with a global unicast subnet: no NAT, the outside sees the
  container's own address;
* the default bridge's `--ipv6 --fixed-cidr-v6` (daemon flags), `host-gateway`
  per family in /etc/hosts (the default bridge's gateways, or the repeatable
  `--host-gateway-ip`), an IPv6 line only for a container with IPv6;
* bad input: an IPv4 static address, or an IPv4 subnet, on an IPv6-only network
  is a 400 and nothing is made; a bad daemon flag stops the start.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path

import pytest

from integration import harness
from integration.fwprobe import serve, stop_all
from integration.netprobe import netns_of, wait_ready
from boxnet.ipam.ula import ula_base
from integration.v6world import HOST6, OUT6, docker, dual_outside, seen_from

pytestmark = pytest.mark.kernel
HERE = Path(__file__).parent
P = 7000
SLEEP = ("busybox", "sleep", "3600")
GW6 = "com.docker.network.bridge.gateway_mode_ipv6"


@pytest.fixture(scope="module")
def world(host):
    """ula (--ipv6, no subnet); v6only (--ipv4=false --ipv6, no subnet): a1, a2,
    pub (publishes 8097); gua (2001:db8:77::/64 routed): g1; the outside."""
    out = dual_outside(host)
    out.sh(f"ip -6 route add 2001:db8:77::/64 via {HOST6}")
    docker(host, "network", "create", "--ipv6", "ula")
    docker(host, "network", "create", "--ipv4=false", "--ipv6", "v6only")
    docker(host, "network", "create", "--ipv6", "--subnet", "2001:db8:77::/64",
           "-o", f"{GW6}=routed", "gua")
    docker(host, "run", "-d", "--name", "u1", "--network", "ula", *SLEEP)
    for name in ("a1", "a2"):
        docker(host, "run", "-d", "--name", name, "--network", "v6only", *SLEEP)
    docker(host, "run", "-d", "--name", "pub", "--network", "v6only", "-p", f"8097:{P}", *SLEEP)
    docker(host, "run", "-d", "--name", "g1", "--network", "gua", *SLEEP)
    procs = [serve(host, "pub", P)]
    wait_ready(host, "pub", P)
    try:
        yield host, out
    finally:
        stop_all(procs)


def dq(host, container: str, *args: str) -> dict:
    """dns_query.py run in the container's netns (through its pid: the pin may
    be in the daemon's private mount namespace)."""
    r = harness.run(["nsenter", f"--net={netns_of(host, container)}", sys.executable,
                     str(HERE / "dns_query.py"), *args], timeout=60)
    return json.loads(r.stdout)


def test_ipv6_without_subnet_takes_a_64_of_the_hosts_ula(world):
    host, _ = world
    engine = docker(host, "info", "--format", "{{.ID}}").stdout.strip()
    cfg = [c for c in host.network("ula")["IPAM"]["Config"] if ":" in c["Subnet"]]
    assert len(cfg) == 1
    subnet = ipaddress.ip_network(cfg[0]["Subnet"])
    assert subnet.prefixlen == 64 and subnet.subnet_of(ula_base(engine)), (subnet, engine)
    ip6 = host.ip_of("u1", "ula", v6=True)
    assert ipaddress.ip_address(ip6) in subnet
    r = docker(host, "exec", "u1", "busybox", "ping", "-6", "-c1", "-W2", cfg[0]["Gateway"],
               check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # the second --ipv6 network took the next /64 of the same /48
    v6only = ipaddress.ip_network(host.network("v6only")["IPAM"]["Config"][0]["Subnet"])
    assert v6only.subnet_of(ula_base(engine)) and v6only != subnet


def test_ipv6_only_network_has_no_ipv4(world):
    host, _ = world
    nw = host.network("v6only")
    assert nw["EnableIPv4"] is False and nw["EnableIPv6"] is True
    assert [":" in c["Subnet"] for c in nw["IPAM"]["Config"]] == [True]
    ep = host.inspect("a1")["NetworkSettings"]["Networks"]["v6only"]
    assert ep["IPAddress"] == "" and ep["GlobalIPv6Address"]
    r = docker(host, "exec", "a1", "busybox", "ip", "-4", "addr", "show", "dev", "eth0")
    assert "inet " not in r.stdout
    r = docker(host, "exec", "a1", "busybox", "ip", "-6", "addr", "show", "dev", "eth0")
    assert ep["GlobalIPv6Address"] in r.stdout


def test_aaaa_only_dns_and_ping6_by_name(world):
    host, _ = world
    ip6 = host.ip_of("a2", "v6only", v6=True)
    a = dq(host, "a1", "query", "a2", "A")
    assert a["rcode"] == "NOERROR" and a["answers"] == [], a
    aaaa = dq(host, "a1", "query", "a2", "AAAA")
    assert aaaa["rcode"] == "NOERROR" and aaaa["answers"] == [ip6], aaaa
    r = docker(host, "exec", "a1", "busybox", "ping", "-c1", "-W2", "a2", check=False)
    assert r.returncode == 0 and ip6 in r.stdout, r.stdout + r.stderr


def test_loopback_has_ipv6(world):
    host, _ = world
    r = docker(host, "exec", "a1", "busybox", "ip", "-6", "addr", "show", "dev", "lo")
    assert "::1/128" in r.stdout
    r = docker(host, "exec", "a1", "busybox", "ping", "-6", "-c1", "-W2", "::1", check=False)
    assert r.returncode == 0


def test_ula_outbound_is_masqueraded(world):
    host, _ = world
    assert seen_from(netns_of(host, "a1"), OUT6) == HOST6


def test_global_unicast_routed_is_not_nated(world):
    host, _ = world
    own = host.ip_of("g1", "gua", v6=True)
    assert seen_from(netns_of(host, "g1"), OUT6) == own


def test_published_port_over_ipv6_from_outside(world):
    host, out = world
    assert seen_from(out.netns, HOST6, 8097) == OUT6
    ports = host.inspect("pub")["NetworkSettings"]["Ports"][f"{P}/tcp"]
    assert {"HostIp": "::", "HostPort": "8097"} in ports


def test_ipv4_address_or_subnet_on_ipv6_only_network_is_400(world):
    host, _ = world
    before = sorted(host.link_names())
    r = docker(host, "run", "-d", "--name", "bad4", "--network", "v6only", "--ip", "10.9.9.9",
               *SLEEP, check=False)
    assert r.returncode != 0 and "IPv4" in r.stderr, r.stderr
    assert "bad4" not in docker(host, "ps", "-a", "--format", "{{.Names}}").stdout.split()
    r = docker(host, "network", "create", "--ipv4=false", "--ipv6", "--subnet", "10.9.9.0/24",
               "bad6", check=False)
    assert r.returncode != 0 and "IPv4" in r.stderr, r.stderr
    assert "bad6" not in docker(host, "network", "ls", "--format", "{{.Name}}").stdout.split()
    assert sorted(host.link_names()) == before


def _hosts_lines(host, name: str, entry: str) -> list[str]:
    """The addresses /etc/hosts inside the container gives `entry`."""
    text = docker(host, "exec", name, "cat", "/etc/hosts").stdout
    return [ln.split()[0] for ln in text.splitlines() if ln.split()[1:] == [entry]]


def test_default_bridge_ipv6_fixed_cidr_and_host_gateway_per_family(make_host):
    h = make_host("--ipv6", "--fixed-cidr-v6", "fd00:b1::/64")
    nw = h.network("bridge")
    assert nw["EnableIPv6"] is True
    v6 = [c for c in nw["IPAM"]["Config"] if ":" in c["Subnet"]]
    assert v6 and v6[0]["Subnet"] == "fd00:b1::/64", nw["IPAM"]
    docker(h, "run", "-d", "--name", "d1", "--add-host", "hg:host-gateway", *SLEEP)
    ip6 = h.ip_of("d1", "bridge", v6=True)
    assert ipaddress.ip_address(ip6) in ipaddress.ip_network("fd00:b1::/64")
    gw4 = next(c["Gateway"] for c in nw["IPAM"]["Config"] if ":" not in c["Subnet"])
    assert _hosts_lines(h, "d1", "hg") == [gw4, v6[0]["Gateway"]]
    r = docker(h, "exec", "d1", "busybox", "ping", "-6", "-c1", "-W2", "hg", check=False)
    assert r.returncode == 0 and v6[0]["Gateway"] in r.stdout, r.stdout + r.stderr
    # a container without IPv6 gets no IPv6 host-gateway line
    docker(h, "network", "create", "v4net")
    docker(h, "run", "-d", "--name", "d2", "--network", "v4net", "--add-host",
           "hg:host-gateway", *SLEEP)
    assert _hosts_lines(h, "d2", "hg") == [gw4]


def test_host_gateway_ip_flag_per_family(make_host):
    h = make_host("--host-gateway-ip", "fd00:198::1", "--host-gateway-ip", "198.18.0.1")
    docker(h, "network", "create", "--ipv6", "dual")
    docker(h, "run", "-d", "--name", "e1", "--network", "dual", "--add-host",
           "hg:host-gateway", *SLEEP)
    assert _hosts_lines(h, "e1", "hg") == ["198.18.0.1", "fd00:198::1"]


def test_bad_daemon_flags_refuse_to_start(make_host):
    h = make_host(start=False)
    with pytest.raises(Exception):
        h.start("--fixed-cidr-v6", "fd00:b1::/64", timeout=15)
    assert "needs --ipv6" in h.log_tail(20)


def test_hosts_ipv6_nameserver_is_the_upstream(make_host, tmp_path):
    """The host's resolv.conf names only an IPv6 server (the outside's stub):
    the embedded DNS forwards to it over IPv6 from the host netns.  The daemon
    runs in a private mount namespace where that file is bind-mounted over
    /etc/resolv.conf (the machine's own file is never touched)."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {OUT6}\n")
    h = make_host(start=False)
    h.launcher = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                  'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv)]
    out = dual_outside(h)
    log = tmp_path / "stub.log"
    out.popen([sys.executable, str(HERE / "dns_stub.py"), "--log", str(log), "--addr", OUT6])
    h.start("--ipv6")
    docker(h, "network", "create", "--ipv6", "up6")
    docker(h, "run", "-d", "--name", "r1", "--network", "up6", *SLEEP)
    got = dq(h, "r1", "query", "www.outside.test", "A")
    assert got["rcode"] == "NOERROR" and got["answers"] == ["203.0.113.7"], got
    assert "udp www.outside.test. 1" in log.read_text()
    # the default bridge (no embedded DNS) has IPv6 here: the container is given the
    # host's IPv6 nameserver itself and reaches it (busybox nslookup inside)
    docker(h, "run", "-d", "--name", "r0", *SLEEP)
    assert f"nameserver {OUT6}" in docker(h, "exec", "r0", "cat", "/etc/resolv.conf").stdout
    r = docker(h, "exec", "r0", "busybox", "nslookup", "other.outside.test", check=False)
    assert "203.0.113.7" in r.stdout, r.stdout + r.stderr


def test_default_address_pool_v6_replaces_the_ula(make_host):
    h = make_host("--default-address-pool", "base=10.80.0.0/16,size=24",
                  "--default-address-pool", "base=fd42:1::/48,size=64")
    docker(h, "network", "create", "--ipv6", "p6")
    subnets = sorted(c["Subnet"] for c in h.network("p6")["IPAM"]["Config"])
    # the default bridge took 10.80.0.0/24; no ULA pool was added
    assert subnets == ["10.80.1.0/24", "fd42:1::/64"], subnets
    docker(h, "run", "-d", "--name", "q1", "--network", "p6", *SLEEP)
    assert h.ip_of("q1", "p6", v6=True).startswith("fd42:1::")


COMPOSE_V6ONLY = """
name: v6p
services:
  a: {image: busybox, command: [sleep, "3600"], networks: [n6]}
  b: {image: busybox, command: [sleep, "3600"], networks: [n6]}
networks:
  n6: {enable_ipv4: false, enable_ipv6: true}
"""


@pytest.mark.parametrize("client", ["docker-compose", "boxnet-compose"])
def test_compose_ipv6_only_network(world, tmp_path, client):
    """`enable_ipv4: false` with docker compose v2 and with boxnet compose: an
    IPv6-only network, b reached by name over IPv6 from inside a."""
    import os
    import subprocess
    host, _ = world
    (tmp_path / "compose.yaml").write_text(COMPOSE_V6ONLY)
    if client == "docker-compose":
        argv = [str(Path(sys.executable).parent / "docker-compose")]
        if not os.access(argv[0], os.X_OK):
            pytest.skip("docker compose v2 is not installed")
    else:
        argv = [str(harness.BOXNET), "-H", host.host_uri, "compose"]
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path))

    def compose(*args):
        return subprocess.run([*argv, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
    r = compose("up", "-d")
    if client == "docker-compose" and "enable_ipv4 is not allowed" in r.stderr:
        pytest.skip("this docker compose (v2.22) predates enable_ipv4 in its compose schema")
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        nw = host.network("v6p_n6")
        assert nw["EnableIPv4"] is False and all(":" in c["Subnet"]
                                                 for c in nw["IPAM"]["Config"])
        a = docker(host, "ps", "-q", "--filter",
                   "label=com.docker.compose.service=a").stdout.split()
        assert len(a) == 1
        r = docker(host, "exec", a[0], "busybox", "ping", "-c1", "-W2", "b", check=False)
        assert r.returncode == 0 and "fd" in r.stdout, r.stdout + r.stderr
    finally:
        compose("down")
