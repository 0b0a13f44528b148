"""The host's IPv6 ULA pool, as Docker 27+ derives it from the engine ID.

Docker 27 made `--ipv6` work without a `--subnet`: when the daemon's default
address pools hold no IPv6 pool (none given, or only IPv4 ones), it appends a
/48 Unique Local prefix made from the engine ID and cuts /64s from it (moby's
`deriveULABaseNetwork`, loosely RFC 4193 3.2.2): the 40 low bits of the first
8 bytes of sha256(engine ID), big-endian, are the Global ID after `fd`.
The same engine ID always gives the same pool, two hosts almost never the same.
"""

from __future__ import annotations

import hashlib
import ipaddress

from .pools import DEFAULT_LOCAL_POOLS


def ula_base(host_id: str) -> ipaddress.IPv6Network:
    """The /48 ULA prefix of `host_id` (fdXX:XXXX:XXXX::/48)."""
    sha = hashlib.sha256(host_id.encode()).digest()
    gid = int.from_bytes(sha[:8], "big") & ((1 << 40) - 1)
    addr = int(ipaddress.IPv6Address("fd00::")) + (gid << 80)
    return ipaddress.IPv6Network((addr, 48))


def with_ula(pools: list[tuple[str, int]] | None, host_id: str) -> list[tuple[str, int]]:
    """The daemon's default address pools: the given ones (Docker's local
    defaults when none), plus the host's ULA /48 split in /64s when no IPv6
    pool is among them (an IPv4-mapped base does not count, as in moby)."""
    out = list(pools) if pools else list(DEFAULT_LOCAL_POOLS)
    has_v6 = False
    for base, _ in out:
        net = ipaddress.ip_network(base, strict=False)
        if net.version == 6 and net.network_address.ipv4_mapped is None:
            has_v6 = True
    if not has_v6:
        out.append((str(ula_base(host_id)), 64))
    return out
