"""macvlan networks on a simulated LAN (tests/integration/lan.py): containers are
devices of the LAN with their own MACs, reach the LAN host and each other as the
mode says, and the host reaches them only through the boxnet.host_access shim."""

from __future__ import annotations

import json

import pytest

from integration.lan import Lan

pytestmark = pytest.mark.kernel

SLEEP = ["busybox", "sleep", "3600"]


@pytest.fixture(scope="module")
def lan(host):
    """The module host's eth1 on a LAN whose router/LAN host is 198.19.10{0..4}.1."""
    world = Lan(host.name, router_addrs=tuple(f"198.19.10{i}.1/24" for i in range(5)),
                host_addrs=("198.19.100.10/24", "198.19.101.10/24"))
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.100.0/24",
             "--gateway", "198.19.100.1", "--ip-range", "198.19.100.128/28",
             "--aux-address", "printer=198.19.100.130", "-o", "parent=eth1",
             "-o", "boxnet.host_access=true", "lan")
    for name in ("m1", "m2"):
        host.cli("run", "-d", "--name", name, "--network", "lan", *SLEEP)
    yield world
    world.teardown()


def ping(host, src: str, dst: str, tries: int = 2) -> bool:
    """Ping from a container; True on a reply."""
    return any(host.exec(src, "ping", "-c1", "-W1", dst).returncode == 0 for _ in range(tries))


def link_details(host, name: str) -> str:
    """`ip -d link show eth0` inside the container's netns (busybox ip has no -d)."""
    key = host.inspect(name)["NetworkSettings"]["SandboxKey"]
    return host.sh(["nsenter", f"--net={key}", "ip", "-d", "link", "show", "eth0"]).stdout


def mac_of(host, name: str, net: str) -> str:
    """The MAC address inspect reports for a container on a network."""
    return host.inspect(name)["NetworkSettings"]["Networks"][net]["MacAddress"]


def test_lan_host_sees_containers_with_their_own_macs(host, lan):
    """The LAN host pings each container and holds its own MAC (not the parent's)."""
    parent_mac = json.loads(host.sh(["ip", "-j", "link", "show", "eth1"]).stdout)[0]["address"]
    macs = set()
    for name in ("m1", "m2"):
        ip = host.ip_of(name, "lan")
        assert lan.ping(ip), f"LAN host cannot ping {name} at {ip}"
        mac = mac_of(host, name, "lan")
        assert lan.neighbours().get(ip) == mac, lan.neighbours()
        inside = json.loads(host.exec(name, "cat", "/sys/class/net/eth0/address",
                                      check=True).stdout.strip().join('""'))
        assert inside == mac
        macs.add(mac)
    assert len(macs) == 2 and parent_mac not in macs


def test_containers_reach_lan_host_and_each_other(host, lan):
    """Bridge mode: container to LAN host and container to container, default via gateway."""
    assert ping(host, "m1", "198.19.100.1")
    assert ping(host, "m1", host.ip_of("m2", "lan"))
    routes = host.exec("m1", "ip", "route", check=True).stdout
    assert "default via 198.19.100.1 dev eth0" in routes
    assert "macvlan mode bridge" in link_details(host, "m1")


def test_ip_range_and_aux_address_keep_off_lan_hosts(host, lan):
    """Addresses come from --ip-range only, never the --aux-address nor the gateway."""
    names = [f"r{i}" for i in range(4)]
    try:
        for n in names:
            host.cli("run", "-d", "--name", n, "--network", "lan", *SLEEP)
        ips = [host.ip_of(n, "lan") for n in names + ["m1", "m2"]]
        last = [int(ip.rsplit(".", 1)[1]) for ip in ips]
        assert all(128 <= x < 144 for x in last), ips
        assert 130 not in last and len(set(last)) == len(last)
    finally:
        host.cli("rm", "-f", *names, check=False)


def test_host_reaches_containers_only_through_the_shim(host, lan):
    """host_access: the host pings lan's containers via bxs<id>; lan2 (no shim) it cannot."""
    nid = host.network("lan")["Id"]
    shim = "bxs" + nid[:12]
    assert shim in host.link_names()
    ip = host.ip_of("m1", "lan")
    route = host.sh(["ip", "route", "get", ip]).stdout
    assert f"dev {shim}" in route and "src 198.19.100.10" in route, route
    assert host.sh(["ping", "-c1", "-W2", ip], check=False).returncode == 0
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.101.0/24",
             "--gateway", "198.19.101.1", "-o", "parent=eth1", "lan2")
    try:
        host.cli("run", "-d", "--name", "n1", "--network", "lan2", *SLEEP)
        ip2 = host.ip_of("n1", "lan2")
        assert lan.ping(ip2)
        # The kernel property the shim works around: the parent's own host cannot.
        assert host.sh(["ping", "-c1", "-W1", ip2], check=False).returncode != 0
    finally:
        host.cli("rm", "-f", "n1", check=False)
        host.cli("network", "rm", "lan2", check=False)


def test_second_network_on_the_same_parent_routes_via_the_lan(host, lan):
    """Another subnet on eth1: reaches its own gateway, and lan's containers via the router."""
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.101.0/24",
             "--gateway", "198.19.101.1", "-o", "parent=eth1", "lan2b")
    try:
        host.cli("run", "-d", "--name", "s1", "--network", "lan2b", *SLEEP)
        assert ping(host, "s1", "198.19.101.1")
        assert ping(host, "s1", host.ip_of("m1", "lan")), "no path through the LAN router"
        assert lan.ping(host.ip_of("s1", "lan2b"))
    finally:
        host.cli("rm", "-f", "s1", check=False)
        host.cli("network", "rm", "lan2b", check=False)
    assert "lan2b" not in host.cli("network", "ls", "--format", "{{.Name}}").stdout.split()


def test_private_mode_isolates_siblings(host, lan):
    """private: both containers reach the LAN host, never each other."""
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.102.0/24",
             "--gateway", "198.19.102.1", "-o", "parent=eth1", "-o", "macvlan_mode=private",
             "priv")
    try:
        for n in ("p1", "p2"):
            host.cli("run", "-d", "--name", n, "--network", "priv", *SLEEP)
        assert ping(host, "p1", "198.19.102.1") and ping(host, "p2", "198.19.102.1")
        assert lan.ping(host.ip_of("p1", "priv")) and lan.ping(host.ip_of("p2", "priv"))
        assert not ping(host, "p1", host.ip_of("p2", "priv"))
        assert "macvlan mode private" in link_details(host, "p1")
    finally:
        host.cli("rm", "-f", "p1", "p2", check=False)
        host.cli("network", "rm", "priv", check=False)


def test_vepa_mode_needs_a_hairpin_switch(host, lan):
    """vepa: siblings talk only when the switch port reflects frames (hairpin)."""
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.103.0/24",
             "--gateway", "198.19.103.1", "-o", "parent=eth1", "-o", "macvlan_mode=vepa",
             "vepa")
    try:
        for n in ("v1", "v2"):
            host.cli("run", "-d", "--name", n, "--network", "vepa", *SLEEP)
        v2 = host.ip_of("v2", "vepa")
        assert ping(host, "v1", "198.19.103.1")
        assert not ping(host, "v1", v2, tries=1)
        lan.hairpin("u-host", True)
        assert ping(host, "v1", v2, tries=3)
    finally:
        lan.hairpin("u-host", False)
        host.cli("rm", "-f", "v1", "v2", check=False)
        host.cli("network", "rm", "vepa", check=False)


def test_etc_hosts_and_names(host, lan):
    """/etc/hosts carries the macvlan address; embedded DNS (when present) resolves peers."""
    ip = host.ip_of("m1", "lan")
    assert ip in host.exec("m1", "cat", "/etc/hosts", check=True).stdout
    resolv = host.exec("m1", "cat", "/etc/resolv.conf", check=True).stdout
    if "127.0.0.11" not in resolv:
        pytest.skip("no embedded DNS in this build (resolv.conf has no 127.0.0.11)")
    out = host.exec("m1", "nslookup", "m2").stdout
    assert host.ip_of("m2", "lan") in out, out


def test_leave_removes_link_and_shim_route(host, lan):
    """disconnect removes the container's link and the host's route to it."""
    host.cli("run", "-d", "--name", "d1", "--network", "lan", *SLEEP)
    try:
        ip = host.ip_of("d1", "lan")
        assert ip in host.sh(["ip", "route"]).stdout
        host.cli("network", "disconnect", "lan", "d1")
        assert "eth0" not in host.exec("d1", "ls", "/sys/class/net", check=True).stdout
        assert ip not in host.sh(["ip", "route"]).stdout
        assert not lan.ping(ip, tries=1)
    finally:
        host.cli("rm", "-f", "d1", check=False)


def test_restart_keeps_containers_on_the_lan(host, lan):
    """After a daemon restart the containers still answer and new ones can join."""
    host.restart()
    assert lan.ping(host.ip_of("m1", "lan"))
    host.cli("run", "-d", "--name", "after", "--network", "lan", *SLEEP)
    try:
        assert lan.ping(host.ip_of("after", "lan"))
        assert host.sh(["ping", "-c1", "-W2", host.ip_of("after", "lan")],
                       check=False).returncode == 0
    finally:
        host.cli("rm", "-f", "after", check=False)


def test_network_rm_removes_the_shim(host, lan):
    """Removing a host_access network removes its shim; the parent stays."""
    host.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.104.0/24",
             "-o", "parent=eth1", "-o", "boxnet.host_access=true", "shimmed")
    shim = "bxs" + host.network("shimmed")["Id"][:12]
    assert shim in host.link_names()
    host.cli("network", "rm", "shimmed")
    assert shim not in host.link_names()
    assert "eth1" in host.link_names()
