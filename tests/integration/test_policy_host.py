"""Policies judge host-bound traffic too (issue 20 section 1, docs/policy.md "The host").

From inside containers: a container with an egress policy reaches the host's own
addresses (its gateway, the host's other address, on any port, ICMP included) only
where a rule lets it; a port published by another container, reached through the
host's address, is judged as egress to that container; the embedded DNS and IPv6
neighbour discovery keep working.  From the host: its own connections to a
container are judged by the container's ingress policy.  A published port the
container's ingress policy closes to every outside address is refused at create
(400 naming the port), and one a cidr rule grants is reached from outside and from
the host's loopback.  Every refusal has a control that passes, so no probe can
pass by timing out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from integration import harness
from integration.netprobe import SERVER, ping, probe, server_cmd, wait_ready
from integration.outside import Outside
from integration.test_policy import reach

pytestmark = pytest.mark.kernel
NET = "polhost"
GW, GW6 = "10.95.0.1", "fd00:95::1"
OUTER = "198.18.0.1"          # the host's address on the outside link


def _run(host, name, pol=None, *extra):
    lab = ["--label", "com.boxnet.policy=" + json.dumps(pol)] if pol is not None else []
    host.cli("run", "-d", "--name", name, "--network", NET, *lab, *extra, "boxnet/host",
             *server_cmd(5432))


@pytest.fixture(scope="module")
def world(host):
    """Servers on the host itself (7001, 7002), the outside world, and containers:
    free (no policy), eg (egress: pub 5432/tcp only), egh (egress: the gateway's
    7001/tcp), pub/pub2 (published, no policy), ing (ingress: free only), ingh
    (ingress: the gateway address on 5432/tcp), pubc (published, granted by cidr)."""
    out = Outside(host)
    procs = []
    for port in (7001, 7002):
        p = subprocess.Popen(["nsenter", f"--net={host.netns}", sys.executable, "-c", SERVER,
                              str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        harness.STARTED_PIDS.add(p.pid)
        procs.append(p)
    host.cli("network", "create", "--ipv6", "--subnet", "10.95.0.0/24", "--subnet",
             "fd00:95::/64", NET)
    _run(host, "free")
    _run(host, "pub", None, "-p", "18501:5432")
    _run(host, "pub2", None, "-p", "18502:5432")
    _run(host, "eg", {"egress": [{"container": "pub", "ports": ["5432/tcp"]}]})
    _run(host, "egh", {"egress": [{"cidr": f"{GW}/32", "ports": ["7001/tcp"]}]})
    _run(host, "ing", {"ingress": [{"container": "free", "ports": ["5432/tcp"]}]})
    _run(host, "ingh", {"ingress": [{"cidr": f"{GW}/32", "ports": ["5432/tcp"]}]})
    _run(host, "pubc", {"ingress": [{"cidr": "0.0.0.0/0", "ports": ["5432/tcp"]}]},
         "-p", "18503:5432")
    for n in ("free", "pub", "pub2", "eg", "egh", "ing", "ingh", "pubc"):
        wait_ready(host, n, 5432)
    for port in (7001, 7002):
        for _ in range(50):
            if probe(host.netns, "tcp", "127.0.0.1", port):
                break
        else:
            raise AssertionError(f"host server {port} never answered")
    yield host, out
    for p in procs:
        p.kill()
        p.wait(10)


def test_egress_to_the_hosts_own_addresses(world):
    host, _ = world
    for ip in (GW, OUTER):                                   # controls: no policy, no limit
        assert reach(host, "free", ip, 7001), host.nft_ruleset()
    assert _ping(host, "free", GW)
    for ip in (GW, OUTER):                                   # eg may reach only pub
        assert not reach(host, "eg", ip, 7001)
        assert not reach(host, "eg", ip, 7002)
    assert not _ping(host, "eg", GW)
    assert reach(host, "egh", GW, 7001)                      # its rule: the gateway's 7001
    assert not reach(host, "egh", GW, 7002)                  # ... and nothing else there
    assert not reach(host, "egh", OUTER, 7001)               # another host address


def _ping(host, src: str, ip: str) -> bool:
    return host.exec(src, "busybox", "ping", "-c1", "-W2", ip, timeout=30).returncode == 0


def test_published_port_via_the_host_address_is_egress_to_its_container(world):
    host, _ = world
    assert reach(host, "free", GW, 18502)                    # control
    assert reach(host, "eg", GW, 18501)                      # DNATed to pub:5432: allowed
    assert not reach(host, "eg", GW, 18502)                  # pub2 is not in eg's egress
    assert not reach(host, "eg", OUTER, 18502)


def test_dns_and_ipv6_neighbours_still_work(world):
    host, _ = world
    r = host.exec("eg", "python3", "-c", "import socket; print(socket.gethostbyname('pub'))",
                  timeout=30)
    assert r.stdout.strip() == host.ip_of("pub", NET), r.stdout + r.stderr
    # an egress-gated container's neighbour solicitation goes to a multicast address
    # no rule names: without the ND exemption, IPv6 would not work at all
    host.exec("eg", "ip", "-6", "neigh", "flush", "all", timeout=30)
    assert reach(host, "eg", host.ip_of("pub", NET, v6=True), 5432)
    assert not reach(host, "eg", host.ip_of("pub2", NET, v6=True), 5432)


def test_the_hosts_own_connections_obey_ingress(world):
    host, _ = world
    assert probe(host.netns, "tcp", host.ip_of("free", NET), 5432)       # control
    assert probe(host.netns, "tcp", host.ip_of("ing", NET), 5432) is None
    assert reach(host, "free", host.ip_of("ing", NET), 5432)             # its rule
    assert probe(host.netns, "tcp", host.ip_of("ingh", NET), 5432) == GW  # granted by cidr
    assert not ping(host.netns, host.ip_of("ing", NET))
    assert ping(host.netns, host.ip_of("free", NET))


def test_published_port_granted_by_cidr(world):
    host, out = world
    assert probe(out.netns, "tcp", OUTER, 18503)                         # from outside
    assert probe(host.netns, "tcp", "127.0.0.1", 18503)                  # the host's loopback
    assert reach(host, "free", GW, 18503)                                # another container


@pytest.mark.parametrize("extra,port", [
    ({"PortBindings": {"5432/tcp": [{"HostPort": "18504"}]}}, "5432/tcp"),
    ({"PortBindings": {"53/udp": [{"HostPort": "18505"}]}}, "53/udp"),   # cidr grants tcp only
    ({"PublishAllPorts": True}, "8080/tcp"),
])
def test_published_port_closed_by_ingress_is_refused(world, extra, port):
    host, _ = world
    pol = {"ingress": [{"container": "free", "ports": ["5432/tcp"]},
                       {"cidr": "0.0.0.0/0", "ports": ["53/tcp"]}]}
    status, body = host.api("POST", "/containers/create?name=pubbad", json={
        "Image": "busybox", "Cmd": ["true"], "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"com.boxnet.policy": json.dumps(pol)},
        "HostConfig": {"NetworkMode": NET, **extra}})
    assert status == 400 and f"port {port} is published" in body["message"], (status, body)
    assert "cidr" in body["message"]
    assert host.api("GET", "/containers/pubbad/json")[0] == 404


def test_docker_cli_shows_the_published_port_refusal(world):
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    if not os.access(docker, os.X_OK):
        pytest.skip("the docker CLI is not installed")
    host, _ = world
    r = subprocess.run([docker, "run", "-d", "--name", "dkpub", "--network", NET, "-p",
                        "18506:5432", "--label", "com.boxnet.policy=" + json.dumps(
                            {"ingress": [{"container": "free", "ports": ["5432/tcp"]}]}),
                        "busybox", "sleep", "60"],
                       env={**os.environ, "DOCKER_HOST": host.host_uri}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 125 and "port 5432/tcp is published" in r.stderr, r.stderr
    assert host.api("GET", "/containers/dkpub/json")[0] == 404
