"""Strict isolation (issue 18 item 9), netavark 2's default as an option:
`com.docker.network.bridge.isolate=strict`.

Docker isolates networks from each other, yet a container reaches another
network's published port through the host's addresses (the DNAT carries it
into the other bridge): the default keeps exactly that.  A strict network's
containers cannot: not through the outside-facing host address, nor through
their own gateway's address, v4 or v6.  Its own published ports (hairpin),
its outbound traffic and the outside reaching its published ports still work.
Connections are made by a process inside the container (busybox nc) and from
its netns; servers answer with the source they saw.
"""

from __future__ import annotations

import pytest

from integration.fwprobe import serve, stop_all
from integration.netprobe import netns_of, probe, wait_ready
from integration.v6world import HOST4, HOST6, OUT4, docker, dual_outside, seen_from

pytestmark = pytest.mark.kernel
ISO = "com.docker.network.bridge.isolate"
P = 7000
SLEEP = ("busybox", "sleep", "3600")


@pytest.fixture(scope="module")
def world(host):
    """st (strict, v4+v6): sa (client), sa2 (publishes 8096); dflt: sb (client);
    other: srv (publishes 8095, v4 and v6)."""
    out = dual_outside(host)
    docker(host, "network", "create", "--ipv6", "--subnet", "10.73.0.0/24", "--subnet",
           "fd00:73::/64", "-o", f"{ISO}=strict", "st")
    docker(host, "network", "create", "--ipv6", "--subnet", "10.74.0.0/24", "--subnet",
           "fd00:74::/64", "dflt")
    docker(host, "network", "create", "--ipv6", "--subnet", "10.75.0.0/24", "--subnet",
           "fd00:75::/64", "other")
    docker(host, "run", "-d", "--name", "srv", "--network", "other", "-p", f"8095:{P}", *SLEEP)
    docker(host, "run", "-d", "--name", "sa2", "--network", "st", "-p", f"8096:{P}", *SLEEP)
    docker(host, "run", "-d", "--name", "sa", "--network", "st", *SLEEP)
    docker(host, "run", "-d", "--name", "sb", "--network", "dflt", *SLEEP)
    procs = [serve(host, "srv", P), serve(host, "sa2", P)]
    wait_ready(host, "srv", P)
    wait_ready(host, "sa2", P)
    try:
        yield host, out
    finally:
        stop_all(procs)


def _nc(host, name: str, ip: str, port: int) -> str:
    """What a server answered a busybox nc run inside container `name` ("" if none)."""
    r = docker(host, "exec", name, "busybox", "nc", "-w", "2", ip, str(port), check=False)
    return r.stdout.strip()


def _gw(host, net: str, v6: bool = False) -> str:
    cfg = host.network(net)["IPAM"]["Config"]
    return next(c["Gateway"] for c in cfg if (":" in c["Subnet"]) == v6)


def test_default_network_reaches_another_networks_published_port(world):
    host, _ = world
    assert _nc(host, "sb", HOST4, 8095), "Docker's behaviour: published ports via the host"
    ns = netns_of(host, "sb")
    assert seen_from(ns, HOST6, 8095)
    assert seen_from(ns, _gw(host, "dflt"), 8095)


def test_strict_network_cannot_reach_other_networks_published_ports(world):
    host, _ = world
    assert _nc(host, "sa", HOST4, 8095) == ""
    ns = netns_of(host, "sa")
    for ip in (HOST4, HOST6, _gw(host, "st"), _gw(host, "st", v6=True), _gw(host, "other")):
        assert probe(ns, "tcp", ip, 8095, timeout=4) is None, ip
    # nor directly (networks are isolated anyway)
    assert probe(ns, "tcp", host.ip_of("srv", "other"), P, timeout=4) is None


def test_strict_network_keeps_its_own_ports_outbound_and_inbound(world):
    host, out = world
    assert _nc(host, "sa", HOST4, 8096)                      # hairpin to its own network
    ns = netns_of(host, "sa")
    assert seen_from(ns, HOST6, 8096)
    assert seen_from(ns, OUT4) == HOST4                      # outbound, masqueraded
    assert seen_from(out.netns, HOST4, 8096) == OUT4         # the outside reaches it
    assert seen_from(netns_of(host, "sb"), HOST4, 8096)      # others reach it (not strict)


def test_bad_isolate_value_is_400_and_nothing_made(world):
    host, _ = world
    before = sorted(host.link_names())
    for value in ("true", "yes", "STRICT"):
        r = docker(host, "network", "create", "-o", f"{ISO}={value}", "bad", check=False)
        assert r.returncode != 0 and ISO in r.stderr, r.stderr
    assert "bad" not in docker(host, "network", "ls", "--format", "{{.Name}}").stdout.split()
    assert sorted(host.link_names()) == before


def test_strict_survives_a_daemon_restart(world):
    host, _ = world
    host.restart()
    assert probe(netns_of(host, "sa"), "tcp", HOST4, 8095, timeout=4) is None
    assert seen_from(netns_of(host, "sb"), HOST4, 8095)


def test_removing_a_strict_network_removes_its_elements(world):
    host, _ = world
    docker(host, "network", "create", "-o", f"{ISO}=strict", "gone")
    br = "br-" + host.network("gone")["Id"][:12]
    assert f'"{br}"' in host.nft_ruleset()
    docker(host, "network", "rm", "gone")
    assert f'"{br}"' not in host.nft_ruleset()
