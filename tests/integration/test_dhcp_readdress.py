"""A DHCP lease that runs out and is discovered again with a DIFFERENT address
(brief L item 1): the endpoint's address changes everywhere at once, seen from
the real clients and from inside containers: the interface, inspect's
IPAddress, the embedded DNS answer another container gets, a ping to the new
address, the default route, a network "update" event in `docker events`, and
the store (a daemon restart keeps the new address). dnsmasq (the LAN's DHCP
server) is restarted with the container's MAC bound to another address, as a
server that gave the old one away would do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from integration.healthutil import DOCKER, Docker
from integration.lan import Lan
from integration.test_dhcp import _age_lease, _poll, addr_inside

pytestmark = pytest.mark.kernel
SLEEP = ["busybox", "sleep", "3600"]
ROUTER = "198.19.100.1"
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


class Dnsmasq:
    """dnsmasq as the LAN host's DHCP server; `restart` keeps its lease file."""

    def __init__(self, lan: Lan, tmp: str):
        self.lan, self.tmp = lan, tmp
        self.leasefile = os.path.join(tmp, "leases")
        self.proc: subprocess.Popen | None = None

    def start(self, *extra: str) -> None:
        """Start it (with `extra` flags) and wait for its DHCP range in its log."""
        log = os.path.join(self.tmp, f"log{time.monotonic_ns()}")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.lan.lanhost}", "dnsmasq", "--no-daemon",
             "--conf-file=/dev/null", "--user=root", "--interface=eth0", "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--dhcp-range=198.19.100.50,198.19.100.99,2m",
             f"--dhcp-leasefile={self.leasefile}", "--log-dhcp", f"--log-facility={log}",
             f"--pid-file={self.tmp}/pid", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _poll("dnsmasq to start", lambda: os.path.exists(log) and "DHCP, IP range"
              in open(log).read(), 20)

    def stop(self) -> None:
        """Stop it (no-op if not running)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="module")
def rlan(host):
    """eth1 on a LAN whose host runs dnsmasq; the macvlan dhcp network "rlan"."""
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq is not installed (scripts/install.sh --dev installs it)")
    world = Lan(host.name, router_addrs=(f"{ROUTER}/24",), host_addrs=("198.19.100.10/24",))
    tmp = tempfile.mkdtemp(prefix="bxt-dnsmasq-")
    server = Dnsmasq(world, tmp)
    try:
        server.start()
        host.cli("network", "create", "-d", "macvlan", "--ipam-driver", "dhcp",
                 "-o", "parent=eth1", "rlan")
        yield server
    finally:
        host.cli("rm", "-f", "r1", "r2", check=False)
        host.cli("network", "rm", "rlan", check=False)
        server.stop()
        world.teardown()
        shutil.rmtree(tmp, ignore_errors=True)


def _ip(host, name: str) -> str:
    """Inspect's IPAddress of the container on rlan, without a prefix."""
    return host.inspect(name)["NetworkSettings"]["Networks"]["rlan"]["IPAddress"].split("/")[0]


def test_a_lease_discovered_again_with_another_address_moves_it_everywhere(host, rlan,
                                                                           tmp_path):
    """r1's lease runs out while the daemon is down and dnsmasq now gives its MAC
    another address: after the start, r1's eth0, inspect, r2's DNS answer for r1, a
    ping from r2, r1's default route and a network update event all say the new
    address, and a second restart keeps it."""
    docker = Docker(host, tmp_path / "dcfg")
    host.cli("run", "-d", "--name", "r1", "--network", "rlan", *SLEEP)
    host.cli("run", "-d", "--name", "r2", "--network", "rlan", *SLEEP)
    net = host.inspect("r1")["NetworkSettings"]["Networks"]["rlan"]
    ep, mac, old = net["EndpointID"], net["MacAddress"], _ip(host, "r1")
    new = "198.19.100.88" if old != "198.19.100.88" else "198.19.100.89"
    cid = host.inspect("r1")["Id"]
    try:
        host.stop()
        _age_lease(host, ep, 200)          # past the end of the 120 s lease
        rlan.stop()
        rlan.start(f"--dhcp-host={mac},{new}")
        since = str(int(time.time()) - 1)
        host.start(*host.daemon_args)
        _poll("inspect's new address", lambda: _ip(host, "r1") == new, 40)
        assert addr_inside(host, "r1") == [f"{new}/24"]
        assert f"default via {ROUTER} dev eth0" in host.exec("r1", "ip", "route",
                                                              check=True).stdout
        answer = host.exec("r2", "nslookup", "r1", check=True).stdout
        assert new in answer and old not in answer, answer
        assert host.exec("r2", "ping", "-c1", "-W2", "r1").returncode == 0
        assert host.exec("r2", "ping", "-c1", "-W2", new).returncode == 0
        assert host.exec("r1", "ping", "-c1", "-W2", ROUTER).returncode == 0
        until = str(int(time.time()) + 1)
        out = docker.out("events", "--since", since, "--until", until, "--filter",
                         "type=network", "--filter", "event=update", "--format", "{{json .}}")
        evs = [json.loads(line) for line in out.splitlines()]
        attrs = [e["Actor"]["Attributes"] for e in evs]
        assert {"container": cid, "ipv4": f"{new}/24", "previousIPv4": f"{old}/24",
                "name": "rlan", "type": "macvlan"} in attrs, evs

        host.restart()
        assert _ip(host, "r1") == new
        assert host.exec("r2", "ping", "-c1", "-W2", "r1").returncode == 0
    finally:
        if not host.running():
            host.start(*host.daemon_args)
        host.cli("rm", "-f", "r1", "r2", check=False)
