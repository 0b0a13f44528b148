"""The host's IPv6 ULA pool (ipam/ula.py): Docker 27's derivation from the engine ID."""

from __future__ import annotations

import hashlib
import ipaddress

from boxnet.ipam.api import PoolRequest
from boxnet.ipam.default import DefaultIpam
from boxnet.ipam.pools import DEFAULT_LOCAL_POOLS
from boxnet.ipam.ula import ula_base, with_ula

HOST = "4f9c3a2e-8c1d-4b7a-9e55-0a1b2c3d4e5f"


def test_ula_base_is_fd_plus_40_bits_of_sha256():
    net = ula_base(HOST)
    gid = int.from_bytes(hashlib.sha256(HOST.encode()).digest()[:8], "big") & (2**40 - 1)
    assert net.prefixlen == 48
    assert int(net.network_address) >> 120 == 0xFD
    assert (int(net.network_address) >> 80) & (2**40 - 1) == gid
    assert net.subnet_of(ipaddress.ip_network("fd00::/8"))


def test_ula_base_is_stable_and_differs_per_host():
    assert ula_base(HOST) == ula_base(HOST)
    assert ula_base(HOST) != ula_base(HOST.replace("4f", "5f"))


def test_known_value():
    # sha256("a1b2")[:8] = 0x...16d263d362 in its 40 low bits
    assert str(ula_base("a1b2")) == "fd16:d263:d362::/48"
    digest = hashlib.sha256(b"a1b2").digest()
    assert digest[3:8] == bytes.fromhex("16d263d362")


def test_with_ula_adds_to_defaults_and_to_v4_only_pools():
    got = with_ula(None, HOST)
    assert got[:-1] == DEFAULT_LOCAL_POOLS and got[-1] == (str(ula_base(HOST)), 64)
    got = with_ula([("10.10.0.0/16", 24)], HOST)
    assert got == [("10.10.0.0/16", 24), (str(ula_base(HOST)), 64)]


def test_with_ula_keeps_a_user_v6_pool_alone():
    pools = [("10.10.0.0/16", 24), ("fd42::/48", 64)]
    assert with_ula(pools, HOST) == pools
    # an IPv4-mapped base is not an IPv6 pool (moby's Is4In6)
    mapped = [("::ffff:10.0.0.0/104", 120)]
    assert with_ula(mapped, HOST)[-1] == (str(ula_base(HOST)), 64)


def test_ipv6_without_subnet_takes_consecutive_64s_of_the_ula():
    ipam = DefaultIpam(pools=with_ula(None, HOST))
    base = ula_base(HOST)
    a = ipam.request_pool(PoolRequest(v6=True), [])
    b = ipam.request_pool(PoolRequest(v6=True), [])
    na, nb = ipaddress.ip_network(a.subnet), ipaddress.ip_network(b.subnet)
    assert na.prefixlen == nb.prefixlen == 64
    assert na.subnet_of(base) and nb.subnet_of(base)
    assert na.network_address == base.network_address
    assert int(nb.network_address) == int(na.network_address) + 2**64
    assert a.gateway == str(na.network_address + 1)
