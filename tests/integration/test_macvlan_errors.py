"""macvlan/ipvlan: bad input and missing kernel features give clear errors and
create nothing; what this kernel lacks (ipvlan, 802.1q, dummy) is tested where
present and skipped with the probe's reason here."""

from __future__ import annotations

import pytest

from boxnet.kernel import features
from integration.lan import Lan

pytestmark = pytest.mark.kernel

SLEEP = ["busybox", "sleep", "3600"]


def need(kind: str):
    """Skip marker for a test that needs kernel link kind `kind`."""
    return pytest.mark.skipif(not features.probe(kind), reason=features.missing_reason(kind))


def lacks(kind: str):
    """Skip marker for a test of the error path when `kind` is missing."""
    return pytest.mark.skipif(features.probe(kind), reason=f"this kernel has {kind}")


@pytest.fixture(scope="module")
def lan(host):
    """eth1 on a LAN (router 198.19.100.1), a network `taken` (198.19.100.0/24) on it,
    and a bridge port `bxport1` (of bridge bxbr1) to misuse as a parent."""
    world = Lan(host.name, router_addrs=("198.19.100.1/24", "198.19.110.1/24"))
    host.sh("ip link add bxbr1 type bridge && ip link add bxport1 type veth peer name bxport2"
            " && ip link set bxport1 master bxbr1")
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.100.0/24",
             "-o", "parent=eth1", "taken")
    yield world
    world.teardown()


def snapshot(host) -> tuple:
    """What a failed create must leave unchanged: networks, host links, host routes."""
    nets = sorted(n["Name"] for n in host.api_ok("GET", "/networks"))
    return nets, host.link_names(), host.sh(["ip", "route"]).stdout


def create(host, name: str, driver: str = "macvlan", subnet: str | None = None, **opts):
    """POST /networks/create; returns (status, body)."""
    body = {"Name": name, "Driver": driver, "Options": opts}
    if subnet:
        body["IPAM"] = {"Config": [{"Subnet": subnet}]}
    return host.api("POST", "/networks/create", json=body)


BAD = [
    ("missing parent", {"parent": "nosuch0"}, "198.19.120.0/24", 400,
     "parent interface was not found on the host: nosuch0"),
    ("bridge port", {"parent": "bxport1"}, "198.19.121.0/24", 400, "is a port of bxbr1"),
    ("overlap on parent", {"parent": "eth1"}, "198.19.100.0/25", 403, "overlaps"),
    ("unknown macvlan mode", {"parent": "eth1", "macvlan_mode": "hub"}, "198.19.122.0/24",
     400, "macvlan_mode 'hub' is not valid"),
    ("bad parent name", {"parent": "a/b"}, "198.19.123.0/24", 400, "invalid parent"),
    ("bad vlan id", {"parent": "eth1.5000"}, "198.19.124.0/24", 400, "1-4094"),
    ("loopback parent", {"parent": "lo"}, "198.19.125.0/24", 409, "refused a macvlan link on lo"),
    ("unknown boxnet option", {"parent": "eth1", "boxnet.nope": "1"}, "198.19.126.0/24", 400,
     "unknown option boxnet.nope"),
    ("host_access not bool", {"parent": "eth1", "boxnet.host_access": "maybe"},
     "198.19.127.0/24", 400, "expected true or false"),
    ("host_access private", {"parent": "eth1", "boxnet.host_access": "true",
                             "macvlan_mode": "private"}, "198.19.128.0/24", 400,
     "needs macvlan_mode=bridge"),
    ("passthru on a used parent", {"parent": "eth1", "macvlan_mode": "passthru"},
     "198.19.129.0/24", 409, "cannot use mode passthru, macvlan network taken"),
]


@pytest.mark.parametrize("what,opts,subnet,status,text", BAD, ids=[b[0] for b in BAD])
def test_bad_input_creates_nothing(host, lan, what, opts, subnet, status, text):
    """Each bad request: its status, a message saying what is wrong, nothing created."""
    before = snapshot(host)
    code, body = create(host, "bad", subnet=subnet, **opts)
    assert code == status, body
    assert text in body["message"], body
    assert snapshot(host) == before


def test_unknown_ipvlan_mode(host, lan):
    """ipvlan_mode/ipvlan_flag are checked before the kernel's support."""
    for opts, text in (({"ipvlan_mode": "l4"}, "ipvlan_mode 'l4' is not valid"),
                       ({"ipvlan_flag": "hub"}, "ipvlan_flag 'hub' is not valid")):
        before = snapshot(host)
        code, body = create(host, "bad", "ipvlan", "198.19.130.0/24", parent="eth1", **opts)
        assert (code, text in body["message"]) == (400, True), body
        assert snapshot(host) == before


def test_passthru_holds_its_parent_alone(host, lan):
    """A passthru network takes a parent: a second network on it is refused."""
    lan.add_parent("eth2", "u-eth2")
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.131.0/24",
             "-o", "parent=eth2", "-o", "macvlan_mode=passthru", "pt")
    try:
        code, body = create(host, "pt2", subnet="198.19.132.0/24", parent="eth2")
        assert code == 409 and "already using the parent interface in mode passthru" in \
            body["message"], body
    finally:
        host.cli("network", "rm", "pt")


@lacks("ipvlan")
def test_ipvlan_missing_is_named(host, lan):
    """No ipvlan in the kernel: 501 naming the ipvlan module; nothing created."""
    before = snapshot(host)
    code, body = create(host, "iv", "ipvlan", "198.19.133.0/24", parent="eth1")
    assert code == 501, body
    assert "no ipvlan support (module ipvlan" in body["message"], body
    assert snapshot(host) == before


@lacks("vlan")
def test_vlan_parent_missing_is_named(host, lan):
    """eth1.50 does not exist and 802.1q is missing: 501 naming 8021q; no eth1.50."""
    before = snapshot(host)
    code, body = create(host, "v50", subnet="198.19.134.0/24", parent="eth1.50")
    assert code == 501, body
    assert "module 8021q" in body["message"] and "eth1.50" in body["message"], body
    assert snapshot(host) == before


@lacks("dummy")
def test_internal_without_dummy_is_named(host, lan):
    """No parent means an internal network on a dummy link: 501 naming dummy."""
    before = snapshot(host)
    code, body = create(host, "int", subnet="198.19.135.0/24")
    assert code == 501, body
    assert "internal-only" in body["message"] and "module dummy" in body["message"], body
    assert snapshot(host) == before


@need("vlan")
def test_vlan_parent_created_and_removed(host, lan):
    """eth1.60 is created with the first network and removed with the last one."""
    for name, net in (("vl1", "198.19.136.0/24"), ("vl2", "198.19.137.0/24")):
        host.cli("network", "create", "-d", "macvlan", "--subnet", net, "-o",
                 "parent=eth1.60", name)
    assert "eth1.60" in host.link_names()
    host.cli("network", "rm", "vl1")
    assert "eth1.60" in host.link_names()
    host.cli("network", "rm", "vl2")
    assert "eth1.60" not in host.link_names()


@need("vlan")
def test_user_vlan_parent_is_never_removed(host, lan):
    """A sub-interface the user made stays after the network is removed."""
    host.sh("ip link add link eth1 name eth1.61 type vlan id 61 && ip link set eth1.61 up")
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.138.0/24",
             "-o", "parent=eth1.61", "uv")
    host.cli("network", "rm", "uv")
    assert "eth1.61" in host.link_names()
    host.sh("ip link del eth1.61")


@need("dummy")
def test_internal_network_on_dummy(host, lan):
    """No parent: containers reach each other, have no default route; dm-<id> goes with it."""
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.139.0/24", "intn")
    dummy = "dm-" + host.network("intn")["Id"][:12]
    try:
        assert dummy in host.link_names()
        for n in ("i1", "i2"):
            host.cli("run", "-d", "--name", n, "--network", "intn", *SLEEP)
        assert host.exec("i1", "ping", "-c1", "-W2", host.ip_of("i2", "intn")).returncode == 0
        assert "default" not in host.exec("i1", "ip", "route", check=True).stdout
    finally:
        host.cli("rm", "-f", "i1", "i2", check=False)
        host.cli("network", "rm", "intn", check=False)
    assert dummy not in host.link_names()
