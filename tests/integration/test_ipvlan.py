"""ipvlan networks on a simulated LAN: L2 (containers share the parent's MAC) and
L3 (routed: several subnets on one parent, the LAN routes them via the host).
The whole module skips, with the probe's reason, where the kernel has no ipvlan;
the error path for that case is in test_macvlan_errors.py."""

from __future__ import annotations

import json

import pytest

from boxnet.kernel import features
from integration.lan import Lan

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not features.probe("ipvlan"),
                                 reason=features.missing_reason("ipvlan"))]

SLEEP = ["busybox", "sleep", "3600"]
HOST_IP = "198.19.100.10"


@pytest.fixture(scope="module")
def lan(host):
    """eth1 (198.19.100.10) on a LAN whose host/router is 198.19.100.1."""
    world = Lan(host.name, router_addrs=("198.19.100.1/24",), host_addrs=(f"{HOST_IP}/24",))
    yield world
    world.teardown()


def ping(host, src: str, dst: str, tries: int = 2) -> bool:
    """Ping from a container; True on a reply."""
    return any(host.exec(src, "ping", "-c1", "-W1", dst).returncode == 0 for _ in range(tries))


def test_l2_containers_are_on_the_lan_with_the_parents_mac(host, lan):
    """L2: the LAN host pings the containers and sees the parent's MAC for them."""
    host.cli("network", "create", "-d", "ipvlan", "--subnet", "198.19.100.0/24",
             "--gateway", "198.19.100.1", "--ip-range", "198.19.100.64/28",
             "-o", "parent=eth1", "-o", "ipvlan_mode=l2", "iv2")
    try:
        for n in ("a1", "a2"):
            host.cli("run", "-d", "--name", n, "--network", "iv2", *SLEEP)
        parent_mac = json.loads(host.sh(["ip", "-j", "link", "show", "eth1"]).stdout)[0]["address"]
        for n in ("a1", "a2"):
            ip = host.ip_of(n, "iv2")
            assert lan.ping(ip)
            assert lan.neighbours().get(ip) == parent_mac
            assert host.inspect(n)["NetworkSettings"]["Networks"]["iv2"]["MacAddress"] \
                == parent_mac
        assert ping(host, "a1", host.ip_of("a2", "iv2"))
        assert ping(host, "a1", "198.19.100.1")
    finally:
        host.cli("rm", "-f", "a1", "a2", check=False)
        host.cli("network", "rm", "iv2", check=False)


def test_l3_two_subnets_routed_by_the_lan(host, lan):
    """L3: two subnets on eth1; the LAN routes both via the host; all reach each other."""
    for name, net in (("l3a", "198.19.140.0/24"), ("l3b", "198.19.141.0/24")):
        host.cli("network", "create", "-d", "ipvlan", "--subnet", net, "-o", "parent=eth1",
                 "-o", "ipvlan_mode=l3", name)
        lan.sh(["ip", "route", "add", net, "via", HOST_IP])
    try:
        host.cli("run", "-d", "--name", "b1", "--network", "l3a", *SLEEP)
        host.cli("run", "-d", "--name", "b2", "--network", "l3b", *SLEEP)
        b1, b2 = host.ip_of("b1", "l3a"), host.ip_of("b2", "l3b")
        assert lan.ping(b1) and lan.ping(b2)
        assert ping(host, "b1", "198.19.100.1")
        assert ping(host, "b1", b2), "L3 mode routes between subnets on one parent"
        assert "default" in host.exec("b1", "ip", "route", check=True).stdout
    finally:
        host.cli("rm", "-f", "b1", "b2", check=False)
        for name, net in (("l3a", "198.19.140.0/24"), ("l3b", "198.19.141.0/24")):
            lan.sh(["ip", "route", "del", net], check=False)
            host.cli("network", "rm", name, check=False)


def test_one_mode_per_parent(host, lan):
    """An l3 network on a parent already used in l2 is refused (the kernel's port is shared)."""
    host.cli("network", "create", "-d", "ipvlan", "--subnet", "198.19.142.0/24",
             "-o", "parent=eth1", "-o", "ipvlan_mode=l2", "m2")
    try:
        r = host.cli("network", "create", "-d", "ipvlan", "--subnet", "198.19.143.0/24",
                     "-o", "parent=eth1", "-o", "ipvlan_mode=l3", "m3", check=False)
        assert r.returncode != 0 and "same ipvlan_mode" in r.stderr
        r = host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.144.0/24",
                     "-o", "parent=eth1", "mv", check=False)
        assert r.returncode != 0 and "either macvlan or ipvlan" in r.stderr
    finally:
        host.cli("network", "rm", "m2", check=False)
