"""The largest IPv4 packet that crosses the path from a container to an
address, found with DF echo requests from the container's netns (`network
diagnose`'s proof of an MTU mismatch across hosts).

Why a probe and not arithmetic: across hosts the narrow link may be the
other host's underlay or the other container's interface, neither of which
this daemon can read. A bridged frame above a port's MTU (a veth, a VXLAN
device, the underlay's veth) is dropped without an ICMP "fragmentation
needed", so the only sign is silence: each size is one echo with DF set,
and the answered ones bound the path. All sizes of a round are sent at once
(the sequence number is the size) and answered within one timeout, so the
search takes two rounds, not one timeout per size.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import time

from .netns import arun_in_netns
from .probe import IP_MTU_DISCOVER, IP_PMTUDISC_DO, icmp_checksum as _checksum

MIN_SIZE = 576                               # every IPv4 path carries this (RFC 791)
_HDR = 28                                    # IPv4 (20) + ICMP echo (8)
GRACE = 0.1   # s the other answers of a round get after the first (they come as a burst)


def _raw_df() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    return s


def _echo(ident: int, size: int) -> bytes:
    payload = b"boxnet-pmtu".ljust(size - _HDR, b".")
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, size)
    return struct.pack("!BBHHH", 8, 0, _checksum(hdr + payload), ident, size) + payload


async def answered_sizes(netns: str, ip: str, sizes: list[int],
                         timeout: float = 0.5) -> set[int]:
    """The sizes (IPv4 total lengths, each at most 65535) of the DF echo
    requests from ``netns`` to ``ip`` that were answered within ``timeout``
    (one for each, all sent at once; after the first answer the others get
    GRACE or 3 RTTs more, since they come back as a burst). A size the
    sender's own interface or its cached path MTU refuses (EMSGSIZE) counts
    as not answered."""
    s = await arun_in_netns(netns, _raw_df)
    loop = asyncio.get_running_loop()
    ident = (os.getpid() + 0x5A5A) & 0xFFFF
    want, got = set(), set()
    t0 = time.monotonic()
    try:
        for size in sizes:
            try:
                await loop.sock_sendto(s, _echo(ident, size), (ip, 0))
                want.add(size)
            except OSError as exc:
                if exc.errno != errno.EMSGSIZE:
                    raise
        deadline = t0 + timeout
        while want - got:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                data, peer = await asyncio.wait_for(loop.sock_recvfrom(s, 65535), left)
            except asyncio.TimeoutError:
                break
            icmp = data[(data[0] & 0x0F) * 4:]
            if peer[0] == ip and len(icmp) >= 8 and icmp[0] == 0 and \
                    struct.unpack("!H", icmp[4:6])[0] == ident:
                if not got:   # the rest of the burst follows within a few RTTs
                    now = time.monotonic()
                    deadline = min(deadline, now + max(GRACE, 3 * (now - t0)))
                got.add(struct.unpack("!H", icmp[6:8])[0])
    finally:
        s.close()
    return got & want


async def largest_echo(netns: str, ip: str, high: int, timeout: float = 0.5) -> int:
    """The largest DF echo size from ``netns`` to ``ip`` up to ``high`` that
    is answered (0: not even MIN_SIZE): a coarse round every 16 bytes, then
    every byte up to the next coarse size."""
    coarse = sorted({*range(MIN_SIZE, high, 16), high})
    ok = await answered_sizes(netns, ip, coarse, timeout)
    if high in ok:
        return high
    if not ok:
        return 0
    low = max(ok)
    fine = list(range(low + 1, min(low + 16, high)))
    ok = await answered_sizes(netns, ip, fine, timeout) if fine else set()
    return max(ok | {low})
