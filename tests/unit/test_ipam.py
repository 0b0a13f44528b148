"""Unit tests of the default IPAM: pools, subnets, addresses (pure logic, no kernel)."""

from __future__ import annotations

import ipaddress

import pytest

from boxnet.errors import Conflict, Forbidden, InvalidParameter, NotFound, Unavailable
from boxnet.ipam.api import Pool, PoolRequest
from boxnet.ipam.default import DefaultIpam
from boxnet.ipam.pools import find_free_subnet, normalise_pools, parse_address_pool

N = ipaddress.ip_network


def v4(subnet=None, **kw) -> PoolRequest:
    return PoolRequest(subnet=subnet, **kw)


def v6(subnet=None, **kw) -> PoolRequest:
    return PoolRequest(v6=True, subnet=subnet, **kw)


# -- predefined pools ------------------------------------------------------

def test_predefined_pools_follow_docker_order():
    ipam = DefaultIpam()
    got = [ipam.request_pool(v4(), []).subnet for _ in range(16)]
    assert got == [f"172.{i}.0.0/16" for i in range(17, 32)] + ["192.168.0.0/20"]
    assert ipam.request_pool(v4(), []).subnet == "192.168.16.0/20"


def test_predefined_pool_gateway_and_flags():
    pool = DefaultIpam().request_pool(v4(), [])
    assert pool == Pool(pool_id="172.17.0.0/16", subnet="172.17.0.0/16", gateway="172.17.0.1",
                        ip_range=None, aux_addresses={}, user_subnet=False)


def test_predefined_skips_host_routes_and_user_subnets():
    ipam = DefaultIpam()
    ipam.request_pool(v4("172.18.5.0/24"), [])
    avoid = [N("172.17.3.0/24"), N("0.0.0.0/0"), N("fd00::/8")]
    assert ipam.request_pool(v4(), avoid).subnet == "172.19.0.0/16"
    assert ipam.request_pool(v4(), avoid).subnet == "172.20.0.0/16"


def test_predefined_route_covering_whole_block():
    ipam = DefaultIpam()
    assert ipam.request_pool(v4(), [N("172.16.0.0/12")]).subnet == "192.168.0.0/20"


def test_released_predefined_subnet_is_reused_first():
    ipam = DefaultIpam()
    a = ipam.request_pool(v4(), [])
    ipam.request_pool(v4(), [])
    ipam.release_pool(a.pool_id)
    assert ipam.request_pool(v4(), []).subnet == a.subnet


def test_pools_exhausted():
    ipam = DefaultIpam(pools=[("10.10.0.0/23", 24)])
    assert ipam.request_pool(v4(), []).subnet == "10.10.0.0/24"
    assert ipam.request_pool(v4(), []).subnet == "10.10.1.0/24"
    with pytest.raises(Unavailable, match="fully subnetted"):
        ipam.request_pool(v4(), [])


def test_user_pools_sorted_and_nested_dropped():
    pools = normalise_pools([("192.168.0.0/16", 24), ("10.0.0.0/8", 24), ("10.1.0.0/16", 28)])
    assert [(str(p.base), p.size) for p in pools] == [("10.0.0.0/8", 24), ("192.168.0.0/16", 24)]


def test_find_free_subnet_jumps_past_unaligned_blockers():
    pools = normalise_pools([("10.0.0.0/16", 24)])
    blockers = [N("10.0.0.128/25"), N("10.0.1.7/32"), N("10.0.2.0/23"), N("10.0.5.0/24")]
    assert find_free_subnet(pools, blockers) == N("10.0.4.0/24")


def test_find_free_subnet_many_blockers_in_big_pool():
    pools = normalise_pools([("10.0.0.0/8", 24)])
    blockers = [N(f"10.{i // 256}.{i % 256}.0/24") for i in range(5000)]
    assert find_free_subnet(pools, blockers) == N("10.19.136.0/24")


def test_ipv6_needs_subnet_without_v6_pool():
    with pytest.raises(InvalidParameter, match="IPv6 needs a --subnet"):
        DefaultIpam().request_pool(v6(), [])


def test_ipv6_default_pool_when_configured():
    ipam = DefaultIpam(pools=[("fd00::/8", 64), ("10.0.0.0/8", 24)])
    pool = ipam.request_pool(v6(), [N("fd00::/64")])
    assert (pool.subnet, pool.gateway) == ("fd00:0:0:1::/64", "fd00:0:0:1::1")
    assert ipam.request_pool(v4(), []).subnet == "10.0.0.0/24"


@pytest.mark.parametrize("text,want", [
    ("base=10.10.0.0/16,size=24", ("10.10.0.0/16", 24)),
    ("size=24, BASE=10.10.0.0/16", ("10.10.0.0/16", 24)),
    ("base=10.10.1.0/16,size=16", ("10.10.0.0/16", 16)),
    ("base=fd00::/8,size=64", ("fd00::/8", 64)),
])
def test_parse_address_pool(text, want):
    assert parse_address_pool(text) == want


@pytest.mark.parametrize("text", [
    "", "base=10.0.0.0/16", "size=24", "base=10.0.0.0/16,size=8", "base=10.0.0.0/16,size=33",
    "base=fd00::/8,size=129", "base=nope/16,size=24", "base=10.0.0.0,size=24",
    "base=10.0.0.0/16,size=x", "base=10.0.0.0/16,size=24,colour=red", "base",
    "base=10.0.0.0/16,base=10.1.0.0/16,size=24",
])
def test_parse_address_pool_rejects(text):
    with pytest.raises(InvalidParameter):
        parse_address_pool(text)


def test_bad_pool_list_rejected_at_construction():
    with pytest.raises(InvalidParameter):
        DefaultIpam(pools=[("10.0.0.0/16", 8)])


# -- user subnets ----------------------------------------------------------

def test_user_subnet_defaults():
    pool = DefaultIpam().request_pool(v4("10.5.0.0/24"), [N("10.5.0.0/16")])
    assert (pool.pool_id, pool.gateway, pool.user_subnet) == ("10.5.0.0/24", "10.5.0.1", True)


@pytest.mark.parametrize("req,match", [
    (v4("10.5.0.1/24"), "it should be 10.5.0.0/24"),
    (v4("10.5.0.0"), "invalid CIDR"),
    (v4("10.5.0.0/33"), "invalid CIDR"),
    (v4("banana/8"), "invalid CIDR"),
    (v4("fd00::/64"), "not an IPv4 subnet"),
    (v6("10.0.0.0/8"), "not an IPv6 subnet"),
    (v4("10.5.0.0/24", ip_range="10.5.1.0/25"), "doesn't contain ip-range"),
    (v4("10.5.0.0/24", ip_range="10.0.0.0/8"), "bigger than its parent"),
    (v4("10.5.0.0/24", ip_range="10.5.0.1/25"), "it should be 10.5.0.0/25"),
    (v4("10.5.0.0/24", ip_range="fd00::/64"), "parent subnet is an IPv4 block"),
    (v4("10.5.0.0/24", gateway="10.6.0.1"), "not in subnet"),
    (v4("10.5.0.0/24", gateway="10.5.0.0"), "network address"),
    (v4("10.5.0.0/24", gateway="10.5.0.255"), "broadcast address"),
    (v4("10.5.0.0/24", gateway="fd00::1"), "parent subnet is an IPv4 block"),
    (v4("10.5.0.0/24", gateway="10.5.0.x"), "invalid address"),
    (v6("fd00::/64", gateway="fd00::"), "anycast"),
    (v4("10.5.0.0/24", aux_addresses={"h": "10.6.0.1"}), "auxiliary address h=10.6.0.1"),
    (v4("10.5.0.0/24", gateway="10.5.0.9", aux_addresses={"h": "10.5.0.9"}), "auxiliary"),
    (v4(ip_range="10.5.0.0/24"), "needs a subnet"),
    (v4(gateway="10.5.0.1"), "needs a subnet"),
])
def test_user_subnet_validation(req, match):
    with pytest.raises(InvalidParameter, match=match):
        DefaultIpam().request_pool(req, [])


def test_overlapping_user_subnets_forbidden():
    ipam = DefaultIpam()
    ipam.request_pool(v4("10.5.0.0/16"), [])
    with pytest.raises(Forbidden, match="10.5.3.0/24 overlaps 10.5.0.0/16"):
        ipam.request_pool(v4("10.5.3.0/24"), [])
    with pytest.raises(Forbidden, match="Pool overlaps"):
        ipam.request_pool(v4("10.5.0.0/16"), [])
    ipam.request_pool(v6("fd00::/64"), [])       # other family: no conflict
    ipam.release_pool("10.5.0.0/16")
    ipam.request_pool(v4("10.5.3.0/24"), [])


def test_ip_range_gives_gateway_and_addresses():
    ipam = DefaultIpam()
    pool = ipam.request_pool(v4("10.5.0.0/16", ip_range="10.5.7.0/30"), [])
    assert (pool.ip_range, pool.gateway) == ("10.5.7.0/30", "10.5.7.0")
    got = [ipam.request_address(pool.pool_id) for _ in range(3)]
    assert got == ["10.5.7.1", "10.5.7.2", "10.5.7.3"]
    with pytest.raises(Unavailable, match=r"IPv4 .*10.5.0.0/16 \(ip-range 10.5.7.0/30\)"):
        ipam.request_address(pool.pool_id)
    # a static address may lie outside the ip-range, as in Docker
    assert ipam.request_address(pool.pool_id, "10.5.200.9") == "10.5.200.9"


def test_ip_range_at_subnet_start_skips_network_address():
    ipam = DefaultIpam()
    pool = ipam.request_pool(v4("10.5.0.0/24", ip_range="10.5.0.0/30"), [])
    assert pool.gateway == "10.5.0.1"
    assert ipam.request_address(pool.pool_id) == "10.5.0.2"
    assert ipam.request_address(pool.pool_id) == "10.5.0.3"


def test_aux_addresses_and_gateway_never_allocated():
    ipam = DefaultIpam()
    pool = ipam.request_pool(
        v4("10.5.0.0/29", gateway="10.5.0.3", aux_addresses={"a": "10.5.0.1", "b": "10.5.0.5"}), [])
    assert pool.aux_addresses == {"a": "10.5.0.1", "b": "10.5.0.5"}
    got = [ipam.request_address(pool.pool_id) for _ in range(3)]
    assert got == ["10.5.0.2", "10.5.0.4", "10.5.0.6"]
    with pytest.raises(Unavailable):
        ipam.request_address(pool.pool_id)
    for reserved in ("10.5.0.1", "10.5.0.3"):
        ipam.release_address(pool.pool_id, reserved)     # no-op: they stay reserved
        with pytest.raises(Conflict, match="Address already in use"):
            ipam.request_address(pool.pool_id, reserved)


def test_default_gateway_skips_aux_address():
    pool = DefaultIpam().request_pool(v4("10.5.0.0/24", aux_addresses={"r": "10.5.0.1"}), [])
    assert pool.gateway == "10.5.0.2"


# -- addresses -------------------------------------------------------------

def test_sequential_then_lowest_free_reuse():
    ipam = DefaultIpam()
    pid = ipam.request_pool(v4("10.9.0.0/24"), []).pool_id
    assert [ipam.request_address(pid) for _ in range(4)] == [
        "10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5"]
    ipam.release_address(pid, "10.9.0.4")
    ipam.release_address(pid, "10.9.0.3")
    ipam.release_address(pid, "10.9.0.3")        # idempotent
    assert ipam.request_address(pid) == "10.9.0.3"
    assert ipam.request_address(pid) == "10.9.0.4"
    assert ipam.request_address(pid) == "10.9.0.6"


def test_preferred_address_then_automatic_skips_it():
    ipam = DefaultIpam()
    pid = ipam.request_pool(v4("10.9.0.0/24"), []).pool_id
    assert ipam.request_address(pid, "10.9.0.3") == "10.9.0.3"
    assert [ipam.request_address(pid) for _ in range(2)] == ["10.9.0.2", "10.9.0.4"]
    ipam.release_address(pid, "10.9.0.2")
    assert ipam.request_address(pid, "10.9.0.2") == "10.9.0.2"   # taken back statically
    assert ipam.request_address(pid) == "10.9.0.5"               # stale free entry skipped


@pytest.mark.parametrize("addr,err,match", [
    ("10.8.0.5", InvalidParameter, "not in subnet 10.9.0.0/24"),
    ("10.9.0.0", InvalidParameter, "network address"),
    ("10.9.0.255", InvalidParameter, "broadcast address"),
    ("fd00::5", InvalidParameter, "IPv4 block"),
    ("nope", InvalidParameter, "invalid address"),
    ("10.9.0.1", Conflict, "Address already in use"),
])
def test_preferred_address_errors(addr, err, match):
    ipam = DefaultIpam()
    pid = ipam.request_pool(v4("10.9.0.0/24"), []).pool_id
    with pytest.raises(err, match=match):
        ipam.request_address(pid, addr)


def test_serial_mode_wraps_and_avoids_recent():
    ipam = DefaultIpam(serial=True)
    pid = ipam.request_pool(v4("10.9.0.0/29"), []).pool_id     # .1 gw, .2-.6 usable
    assert [ipam.request_address(pid) for _ in range(3)] == ["10.9.0.2", "10.9.0.3", "10.9.0.4"]
    ipam.release_address(pid, "10.9.0.2")
    assert ipam.request_address(pid) == "10.9.0.5"
    assert ipam.request_address(pid) == "10.9.0.6"
    assert ipam.request_address(pid) == "10.9.0.2"              # wrapped around
    with pytest.raises(Unavailable):
        ipam.request_address(pid)


def test_exhaustion_and_usage():
    ipam = DefaultIpam()
    pid = ipam.request_pool(v4("10.9.0.0/28"), []).pool_id
    assert ipam.usage(pid) == {"Subnet": "10.9.0.0/28", "Size": 14, "Allocated": 1, "Free": 13,
                               "IPsInUse": 3, "DynamicIPsAvailable": 13}
    got = {ipam.request_address(pid) for _ in range(13)}
    assert len(got) == 13 and "10.9.0.1" not in got
    with pytest.raises(Unavailable, match="no available IPv4 addresses.*10.9.0.0/28"):
        ipam.request_address(pid)
    assert ipam.usage(pid)["Free"] == 0
    ipam.release_address(pid, "10.9.0.9")
    assert ipam.request_address(pid) == "10.9.0.9"


def test_status_counts_as_docker():
    """API 1.52's SubnetStatus: IPsInUse counts network, broadcast, gateway and
    taken addresses over the whole subnet; DynamicIPsAvailable only the free
    addresses of the ip-range."""
    ipam = DefaultIpam()
    pid = ipam.request_pool(PoolRequest(subnet="172.16.0.0/16"), []).pool_id
    u = ipam.usage(pid)
    assert (u["IPsInUse"], u["DynamicIPsAvailable"]) == (3, 65533)   # the spec's example
    pid = ipam.request_pool(PoolRequest(subnet="10.9.0.0/24", ip_range="10.9.0.128/28"),
                            []).pool_id
    u = ipam.usage(pid)
    # the gateway is the first of the range (Docker), so 15 of 16 are left there
    assert (u["IPsInUse"], u["DynamicIPsAvailable"]) == (3, 15)
    ipam.request_address(pid)
    ipam.request_address(pid, "10.9.0.5")     # static, outside the range
    u = ipam.usage(pid)
    assert (u["IPsInUse"], u["DynamicIPsAvailable"]) == (5, 14)
    pid = ipam.request_pool(PoolRequest(subnet="fd00:1::/64", v6=True), []).pool_id
    u = ipam.usage(pid)
    assert (u["IPsInUse"], u["DynamicIPsAvailable"]) == (2, 2 ** 64 - 2)


@pytest.mark.parametrize("subnet,gateway,first,size", [
    ("10.9.0.0/31", "10.9.0.0", "10.9.0.1", 2),       # RFC 3021: both usable
    ("10.9.0.7/32", "10.9.0.7", None, 1),
    ("fd00::/127", "fd00::1", None, 1),               # first is the anycast address
])
def test_tiny_subnets(subnet, gateway, first, size):
    ipam = DefaultIpam()
    pool = ipam.request_pool(PoolRequest(v6=":" in subnet, subnet=subnet), [])
    assert pool.gateway == gateway and ipam.usage(pool.pool_id)["Size"] == size
    if first:
        assert ipam.request_address(pool.pool_id) == first
    with pytest.raises(Unavailable):
        ipam.request_address(pool.pool_id)


def test_ipv6_128_has_no_address_for_gateway():
    with pytest.raises(InvalidParameter, match="no address left"):
        DefaultIpam().request_pool(v6("fd00::1/128"), [])


def test_big_ipv6_subnet():
    ipam = DefaultIpam()
    pool = ipam.request_pool(v6("fd12:3456::/64"), [])
    assert pool.gateway == "fd12:3456::1"
    assert [ipam.request_address(pool.pool_id) for _ in range(2)] == [
        "fd12:3456::2", "fd12:3456::3"]
    assert ipam.request_address(pool.pool_id, "fd12:3456::ffff:ffff:ffff:ffff") == \
        "fd12:3456::ffff:ffff:ffff:ffff"                  # no broadcast in IPv6
    use = ipam.usage(pool.pool_id)
    assert use["Size"] == 2**64 - 1 and use["Allocated"] == 4 and use["Free"] == 2**64 - 5


def test_many_allocations_on_a_slash_16_are_unique_and_ordered():
    ipam = DefaultIpam()
    pid = ipam.request_pool(v4("10.20.0.0/16"), []).pool_id
    got = [ipam.request_address(pid) for _ in range(65533)]
    assert got[0] == "10.20.0.2" and got[-1] == "10.20.255.254" and len(set(got)) == 65533
    with pytest.raises(Unavailable):
        ipam.request_address(pid)


# -- restore and unknown pools ----------------------------------------------

def test_restore_rebuilds_state():
    first = DefaultIpam()
    pool = first.request_pool(v4("10.7.0.0/24", ip_range="10.7.0.128/25",
                                 aux_addresses={"x": "10.7.0.129"}), [])
    auto = first.request_pool(v4(), [])
    ipam = DefaultIpam()
    ipam.restore_pool(pool)
    ipam.restore_pool(pool)                                  # idempotent
    ipam.restore_pool(auto)
    ipam.reserve_address(pool.pool_id, "10.7.0.130")
    ipam.reserve_address(pool.pool_id, "10.7.0.130")         # idempotent
    ipam.reserve_address(pool.pool_id, pool.gateway)         # the gateway: no error
    assert pool.gateway == "10.7.0.128"
    assert ipam.request_address(pool.pool_id) == "10.7.0.131"
    with pytest.raises(Forbidden):
        ipam.request_pool(v4("10.7.0.0/25"), [])
    assert ipam.request_pool(v4(), []).subnet == "172.18.0.0/16"
    with pytest.raises(Forbidden):
        ipam.restore_pool(Pool(pool_id="10.7.0.0/16", subnet="10.7.0.0/16", gateway=None,
                               ip_range=None, aux_addresses={}, user_subnet=True))
    assert {p.pool_id for p in ipam.pools()} == {"10.7.0.0/24", "172.17.0.0/16", "172.18.0.0/16"}


def test_reserve_address_errors():
    ipam = DefaultIpam()
    pid = ipam.request_pool(v4("10.7.0.0/24"), []).pool_id
    with pytest.raises(InvalidParameter):
        ipam.reserve_address(pid, "10.8.0.1")
    with pytest.raises(InvalidParameter):
        ipam.reserve_address(pid, "10.7.0.255")


def test_unknown_pool():
    ipam = DefaultIpam()
    for call in (lambda: ipam.request_address("10.0.0.0/8"),
                 lambda: ipam.reserve_address("10.0.0.0/8", "10.0.0.2"),
                 lambda: ipam.usage("10.0.0.0/8")):
        with pytest.raises(NotFound):
            call()
    ipam.release_address("10.0.0.0/8", "10.0.0.2")           # no error
    ipam.release_pool("10.0.0.0/8")                          # no error
