"""Source address of outbound traffic (issue 18 item 4): the bridge options
`com.docker.network.host_ipv4` / `com.docker.network.host_ipv6` SNAT a
network's outbound traffic to a chosen host address instead of masquerading
it (netavark's outbound_addr).  The outside server reports the source it saw,
for a connection made by a process inside the container (busybox nc) and
from the container's netns; a network without the option keeps the
masquerade; an address that is not the host's is a 400 and nothing is made.
"""

from __future__ import annotations

import pytest

from integration.netprobe import netns_of
from integration.v6world import HOST4, HOST6, OUT4, OUT6, PEER, docker, dual_outside, seen_from

pytestmark = pytest.mark.kernel
H4, H6 = "com.docker.network.host_ipv4", "com.docker.network.host_ipv6"
SRC4, SRC6 = "198.18.9.9", "fd00:199::9"     # extra host addresses, not the route's choice
SLEEP = ("busybox", "sleep", "3600")


@pytest.fixture(scope="module")
def world(host):
    """Network sn (v4+v6, SNAT both families), plain (v4+v6, masquerade);
    containers c1 on sn, c2 on plain; the outside on bxo0."""
    out = dual_outside(host)
    host.sh(f"ip addr add {SRC4}/32 dev bxo0 && ip addr add {SRC6}/128 dev bxo0 nodad")
    docker(host, "network", "create", "--ipv6", "--subnet", "10.71.0.0/24", "--subnet",
           "fd00:71::/64", "-o", f"{H4}={SRC4}", "-o", f"{H6}={SRC6}", "sn")
    docker(host, "network", "create", "--ipv6", "--subnet", "10.72.0.0/24", "--subnet",
           "fd00:72::/64", "plain")
    docker(host, "run", "-d", "--name", "c1", "--network", "sn", *SLEEP)
    docker(host, "run", "-d", "--name", "c2", "--network", "plain", *SLEEP)
    return host, out


def _nc(host, name: str, ip: str) -> str:
    """What the outside server answered a busybox nc inside the container."""
    for _ in range(10):
        r = docker(host, "exec", name, "busybox", "nc", "-w", "3", ip, str(PEER), check=False)
        if r.stdout.strip():
            return r.stdout.strip()
    return ""


def test_outbound_leaves_with_the_chosen_source_v4_and_v6(world):
    host, _ = world
    assert _nc(host, "c1", OUT4) == SRC4
    assert _nc(host, "c1", OUT6) == SRC6
    ns = netns_of(host, "c1")
    assert seen_from(ns, OUT4) == SRC4 and seen_from(ns, OUT6) == SRC6


def test_without_the_option_the_route_picks_the_source(world):
    host, _ = world
    assert _nc(host, "c2", OUT4) == HOST4
    ns = netns_of(host, "c2")
    assert seen_from(ns, OUT6) == HOST6


def test_inspect_shows_the_options(world):
    host, _ = world
    opts = host.network("sn")["Options"]
    assert opts[H4] == SRC4 and opts[H6] == SRC6


def test_an_address_not_on_the_host_is_400_and_nothing_made(world):
    host, _ = world
    before = sorted(host.link_names())
    for opt, value, extra in ((H4, "203.0.113.5", []), (H6, "fd00:bad::5", ["--ipv6"]),
                              (H4, "fd00:199::9", [])):
        r = docker(host, "network", "create", *extra, "-o", f"{opt}={value}", "bad", check=False)
        assert r.returncode != 0
        assert opt in r.stderr, r.stderr
        assert "bad" not in docker(host, "network", "ls", "--format", "{{.Name}}").stdout.split()
    status, body = host.api("POST", "/networks/create",
                            json={"Name": "bad", "Options": {H4: "203.0.113.5"}})
    assert status == 400 and "not an address of this host" in body["message"]
    assert sorted(host.link_names()) == before
    assert "203.0.113.5" not in host.nft_ruleset()


def test_source_survives_a_daemon_restart(world):
    host, _ = world
    host.restart()
    assert _nc(host, "c1", OUT4) == SRC4
    assert _nc(host, "c1", OUT6) == SRC6


def test_docker_py_creates_and_refuses(world):
    docker_py = pytest.importorskip("docker")
    host, _ = world
    client = docker_py.DockerClient(base_url=host.host_uri, version="1.44")
    try:
        nw = client.networks.create("pysn", driver="bridge", options={H4: SRC4})
        assert client.networks.get(nw.id).attrs["Options"][H4] == SRC4
        nw.remove()
        with pytest.raises(docker_py.errors.APIError) as e:
            client.networks.create("pybad", driver="bridge", options={H4: "203.0.113.5"})
        assert e.value.status_code == 400 and H4 in str(e.value)
        assert not client.networks.list(names=["pybad"])
    finally:
        client.close()


def test_a_source_gone_while_the_daemon_was_down_is_logged_not_fatal(world):
    """The network exists: a restart keeps it (and its rule), warns, and the
    source works again once the address is back."""
    host, _ = world
    host.stop()
    host.sh(f"ip addr del {SRC4}/32 dev bxo0")
    try:
        host.start(*host.daemon_args)
        assert "sn" in docker(host, "network", "ls", "--format", "{{.Name}}").stdout.split()
        assert f"{H4} {SRC4}: not an address of this host" in host.log_tail(100)
    finally:
        host.sh(f"ip addr add {SRC4}/32 dev bxo0")
    assert _nc(host, "c1", OUT4) == SRC4
