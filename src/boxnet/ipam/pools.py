"""Predefined address pools: where subnets come from when a user gives none.

Docker splits a few large blocks ("base") into subnets of a fixed prefix
length ("size") and hands out the first one that overlaps neither a pool
already granted nor a route of the host. `--default-address-pool
base=CIDR,size=N` replaces the whole list. Like Docker, the pools are sorted
by base address and a pool inside an earlier one is dropped, so the order the
user gives does not matter.

These defaults are IPv4 only; boxnetd adds the host's IPv6 ULA /48 (split in
/64s, ipam/ula.py) when no pool it has is IPv6, as Docker 27 does, so
`--ipv6` needs no --subnet.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from boxnet.errors import InvalidParameter

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Docker's local-scope defaults (ipamutils): 172.17-172.31 split in /16s, then
# 192.168.0.0/16 split in /20s. The /15, /14 and /13 cover 172.18-172.31.
DEFAULT_LOCAL_POOLS: list[tuple[str, int]] = [
    ("172.17.0.0/16", 16),
    ("172.18.0.0/15", 16),
    ("172.20.0.0/14", 16),
    ("172.24.0.0/13", 16),
    ("192.168.0.0/16", 20),
]


class PredefinedPool(NamedTuple):
    """One block that subnets are cut from: `base` split into /`size` pieces."""

    base: Network
    size: int


def make_pool(base: str, size: int) -> PredefinedPool:
    """Validate one (base CIDR, size) pair; host bits of the base are dropped."""
    try:
        net = ipaddress.ip_network(base, strict=False)
    except ValueError as e:
        raise InvalidParameter(f"invalid address pool base {base!r}: {e}") from None
    if "/" not in base:
        raise InvalidParameter(f"invalid address pool base {base!r}: a CIDR is needed")
    if isinstance(size, bool) or not isinstance(size, int):
        raise InvalidParameter(f"invalid address pool size {size!r}: not an integer")
    if size < net.prefixlen:
        raise InvalidParameter(
            f"invalid address pool {net}: size /{size} is bigger than the base /{net.prefixlen}")
    if size > net.max_prefixlen:
        raise InvalidParameter(
            f"invalid address pool {net}: size /{size} is longer than /{net.max_prefixlen}")
    return PredefinedPool(net, size)


def parse_address_pool(s: str) -> tuple[str, int]:
    """Parse `base=CIDR,size=N` (the --default-address-pool syntax).

    Returns (canonical base CIDR, size). Raises InvalidParameter on unknown or
    missing keys, a bad CIDR, or a size outside [base prefix, 32 or 128].
    """
    fields: dict[str, str] = {}
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep:
            raise InvalidParameter(f"invalid address pool {s!r}: {part!r} is not key=value")
        if key not in ("base", "size"):
            raise InvalidParameter(f"invalid address pool {s!r}: unexpected key {key!r}")
        if key in fields:
            raise InvalidParameter(f"invalid address pool {s!r}: {key!r} given twice")
        fields[key] = value.strip()
    if "base" not in fields or "size" not in fields:
        raise InvalidParameter(f"invalid address pool {s!r}: base=CIDR,size=N is needed")
    try:
        size = int(fields["size"])
    except ValueError:
        raise InvalidParameter(
            f"invalid address pool {s!r}: size {fields['size']!r} is not an integer") from None
    pool = make_pool(fields["base"], size)
    return str(pool.base), pool.size


def normalise_pools(pools: list[tuple[str, int]]) -> list[PredefinedPool]:
    """Validate, sort by base (v4 first) and drop pools inside an earlier one."""
    parsed = sorted((make_pool(b, s) for b, s in pools),
                    key=lambda p: (p.base.version, int(p.base.network_address),
                                   p.base.prefixlen))
    kept: list[PredefinedPool] = []
    for p in parsed:
        if kept and kept[-1].base.version == p.base.version and kept[-1].base.overlaps(p.base):
            continue
        kept.append(p)
    return kept


def find_free_subnet(pools: list[PredefinedPool], blockers: list[Network]) -> Network | None:
    """The first /size subnet of the first pool that overlaps no blocker.

    `pools` must all be of one family; blockers of the other family and
    default routes (prefix length 0) are ignored. Cost is O(B log B) per pool:
    the cursor jumps past each blocker instead of trying every candidate.
    """
    for pool in pools:
        base = pool.base
        block = 1 << (base.max_prefixlen - pool.size)
        start, end = int(base.network_address), int(base.broadcast_address)
        spans = sorted((int(b.network_address), int(b.broadcast_address))
                       for b in blockers
                       if b.version == base.version and b.prefixlen > 0 and b.overlaps(base))
        cursor = start
        for lo, hi in spans:
            if cursor + block - 1 > end:
                break
            if hi < cursor:
                continue
            if lo > cursor + block - 1:
                break           # the candidate at cursor ends before this blocker
            # Jump to the first aligned candidate after the blocker.
            cursor = start + -(-(hi + 1 - start) // block) * block
        if cursor + block - 1 <= end:
            return type(base)((cursor, pool.size))
    return None
