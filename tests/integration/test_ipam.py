"""IPAM seen from containers: static addresses, dual-stack, Docker's default
pools and their replacement by --default-address-pool / --bip."""

from __future__ import annotations

import ipaddress

import pytest

pytestmark = pytest.mark.kernel


def ping(host, src, dst, v6=False, tries=1) -> bool:
    """Ping from a container; IPv6 retried while DAD may hold a fresh address."""
    args = ["ping", "-6"] if v6 else ["ping"]
    return any(host.exec(src, *args, "-c1", "-W2", dst).returncode == 0 for _ in range(tries))


def subnets(net: dict) -> list[str]:
    """The subnets of a network inspect."""
    return [c["Subnet"] for c in net["IPAM"]["Config"]]


def test_default_pools_in_docker_order(host):
    """Auto subnets: bridge has 172.17/16, then 172.18/16, 172.19/16 in order."""
    assert subnets(host.network("bridge")) == ["172.17.0.0/16"]
    assert host.network("bridge")["IPAM"]["Config"][0]["Gateway"] == "172.17.0.1"
    host.cli("network", "create", "auto1")
    host.cli("network", "create", "auto2")
    assert subnets(host.network("auto1")) == ["172.18.0.0/16"]
    assert subnets(host.network("auto2")) == ["172.19.0.0/16"]
    assert host.network("auto1")["IPAM"]["Config"][0]["Gateway"] == "172.18.0.1"
    host.cli("network", "rm", "auto1", "auto2")


def test_static_ip(host):
    """--ip is honoured: inspect, the kernel and a peer's ping agree."""
    host.cli("network", "create", "--subnet", "10.210.0.0/24", "static-net")
    host.cli("run", "-d", "--name", "s1", "--network", "static-net", "--ip", "10.210.0.50",
             "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "s2", "--network", "static-net", "busybox", "sleep", "3600")
    ep = host.inspect("s1")["NetworkSettings"]["Networks"]["static-net"]
    assert ep["IPAddress"] == "10.210.0.50" and ep["IPPrefixLen"] == 24
    assert ep["IPAMConfig"]["IPv4Address"] == "10.210.0.50"
    assert "10.210.0.50/24" in host.exec("s1", "ip", "-o", "-4", "addr", "show", "eth0",
                                           check=True).stdout
    s2 = host.ip_of("s2", "static-net")
    assert s2 not in ("10.210.0.50", "10.210.0.0", "10.210.0.1", "10.210.0.255")
    assert ping(host, "s2", "10.210.0.50")
    assert ping(host, "s1", s2)


def test_static_ip_on_connect(host):
    """--ip given at connect time on a running container."""
    host.cli("network", "create", "--subnet", "10.212.0.0/24", "--gateway", "10.212.0.254",
             "static-net2")
    host.cli("run", "-d", "--name", "s3", "busybox", "sleep", "3600")
    host.cli("network", "connect", "--ip", "10.212.0.7", "static-net2", "s3")
    ep = host.inspect("s3")["NetworkSettings"]["Networks"]["static-net2"]
    assert (ep["IPAddress"], ep["Gateway"]) == ("10.212.0.7", "10.212.0.254")
    assert "10.212.0.7/24" in host.exec("s3", "ip", "-o", "-4", "addr", check=True).stdout


def test_dual_stack(host):
    """--ipv6 with both subnets: containers reach each other over IPv6 and IPv4."""
    host.cli("network", "create", "--ipv6", "--subnet", "10.211.0.0/24",
             "--subnet", "fd00:1::/64", "ds-net")
    net = host.network("ds-net")
    assert net["EnableIPv6"] is True
    assert sorted(subnets(net)) == ["10.211.0.0/24", "fd00:1::/64"]
    host.cli("run", "-d", "--name", "d1", "--network", "ds-net", "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "d2", "--network", "ds-net", "--ip6", "fd00:1::50",
             "busybox", "sleep", "3600")
    ep1 = host.inspect("d1")["NetworkSettings"]["Networks"]["ds-net"]
    ep2 = host.inspect("d2")["NetworkSettings"]["Networks"]["ds-net"]
    assert ep2["GlobalIPv6Address"] == "fd00:1::50" and ep2["GlobalIPv6PrefixLen"] == 64
    assert ipaddress.ip_address(ep1["GlobalIPv6Address"]) in ipaddress.ip_network("fd00:1::/64")
    assert ipaddress.ip_address(ep1["IPv6Gateway"]) in ipaddress.ip_network("fd00:1::/64")
    assert ipaddress.ip_address(ep1["IPAddress"]) in ipaddress.ip_network("10.211.0.0/24")
    listed = host.network("ds-net")["Containers"]
    assert all(e["IPv6Address"].endswith("/64") for e in listed.values()), listed
    inside = host.exec("d2", "ip", "-o", "-6", "addr", "show", "eth0", check=True).stdout
    assert "fd00:1::50/64" in inside
    assert ping(host, "d1", "fd00:1::50", v6=True, tries=3)
    assert ping(host, "d2", ep1["GlobalIPv6Address"], v6=True, tries=3)
    assert ping(host, "d2", ep1["IPAddress"])
    assert ping(host, "d1", ep2["IPAddress"])


def test_default_address_pool_and_bip(make_host):
    """--default-address-pool feeds new networks, --bip sets boxnet0."""
    h = make_host("--default-address-pool", "base=10.123.0.0/16,size=24",
                  "--bip", "10.124.0.1/24")
    bridge = h.network("bridge")["IPAM"]["Config"][0]
    assert (bridge["Subnet"], bridge["Gateway"]) == ("10.124.0.0/24", "10.124.0.1")
    assert "10.124.0.1/24" in h.sh(["ip", "-o", "-4", "addr", "show", "dev", "boxnet0"]).stdout
    h.cli("network", "create", "pool1")
    h.cli("network", "create", "pool2")
    got = [ipaddress.ip_network(subnets(h.network(n))[0]) for n in ("pool1", "pool2")]
    base = ipaddress.ip_network("10.123.0.0/16")
    for net in got:
        assert net.subnet_of(base) and net.prefixlen == 24, got
    assert not got[0].overlaps(got[1])
    h.cli("run", "-d", "--name", "p1", "--network", "pool1", "busybox", "sleep", "3600")
    assert ipaddress.ip_address(h.ip_of("p1", "pool1")) in got[0]


def test_allocation_status_in_inspect(host):
    """Inspect shows per-subnet allocation (Docker's Status.IPAM.Subnets), and it
    follows connects and removals."""
    host.cli("network", "create", "--subnet", "10.219.0.0/29", "tiny-net")
    status = host.network("tiny-net")["Status"]["IPAM"]["Subnets"]["10.219.0.0/29"]
    # a /29 has 8 addresses: network, broadcast and gateway are in use (Docker's
    # count: its example /16 shows 3 in use and 65533 available), 5 are free
    assert status == {"IPsInUse": 3, "DynamicIPsAvailable": 5}
    host.cli("run", "-d", "--name", "t1", "--network", "tiny-net", "busybox", "sleep", "3600")
    status = host.network("tiny-net")["Status"]["IPAM"]["Subnets"]["10.219.0.0/29"]
    assert status == {"IPsInUse": 4, "DynamicIPsAvailable": 4}
    host.cli("rm", "-f", "t1")
    status = host.network("tiny-net")["Status"]["IPAM"]["Subnets"]["10.219.0.0/29"]
    assert status == {"IPsInUse": 3, "DynamicIPsAvailable": 5}
    host.cli("network", "rm", "tiny-net")
