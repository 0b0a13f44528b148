"""Dropped packets from nftables' log group (NFLOG over nfnetlink) in the
daemon's netns.

boxnet's ruleset puts a rate-limited `log prefix "boxnet-<cause> " group
GROUP` in front of the drops that have a cause worth showing (isolation,
direct-routing protection, policy): the only per-packet work in Python,
bounded by the rules' `limit rate`. Only the first bytes of each packet are
copied (addresses and ports). Groups are per netns, so each daemon of the
tests has its own.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import struct
from collections.abc import AsyncIterator

import msgspec

from boxnet.errors import KernelError

log = logging.getLogger(__name__)
GROUP = 2001
NETLINK_NETFILTER = 12
_SUBSYS_ULOG = 4
_MSG_PACKET, _MSG_CONFIG = 0, 1
_CFG_CMD, _CFG_MODE = 1, 2
_CMD_BIND = 1
_COPY_PACKET = 2
_COPY_RANGE = 64
_ATTR_PAYLOAD, _ATTR_PREFIX = 9, 10
_PROTOS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp"}


class Drop(msgspec.Struct, frozen=True):
    """One logged drop: the rule's prefix (e.g. "boxnet-isolation") and the
    packet's addresses, protocol and ports (0 when it has none)."""
    prefix: str
    proto: str
    src: str
    dst: str
    sport: int = 0
    dport: int = 0


def _attr(typ: int, payload: bytes) -> bytes:
    a = struct.pack("=HH", 4 + len(payload), typ) + payload
    return a + b"\0" * (-len(a) % 4)


def _config(group: int, *attrs: bytes) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(group)) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (_SUBSYS_ULOG << 8) | _MSG_CONFIG,
                       0x1 | 0x4, 1, 0) + body


def parse_packet(payload: bytes) -> tuple[str, str, str, int, int] | None:
    """(proto, src, dst, sport, dport) of the first bytes of an IP packet."""
    if not payload:
        return None
    ver = payload[0] >> 4
    if ver == 4 and len(payload) >= 20:
        ihl, num = (payload[0] & 0xF) * 4, payload[9]
        src, dst = str(ipaddress.IPv4Address(payload[12:16])), \
            str(ipaddress.IPv4Address(payload[16:20]))
        l4 = payload[ihl:]
    elif ver == 6 and len(payload) >= 40:
        num = payload[6]
        src, dst = str(ipaddress.IPv6Address(payload[8:24])), \
            str(ipaddress.IPv6Address(payload[24:40]))
        l4 = payload[40:]
    else:
        return None
    sport = dport = 0
    if num in (6, 17, 132) and len(l4) >= 4:
        sport, dport = struct.unpack_from("!HH", l4)
    return _PROTOS.get(num, str(num)), src, dst, sport, dport


def decode(buf: bytes) -> list[Drop]:
    """The logged packets of one netlink datagram."""
    out, off = [], 0
    while off + 20 <= len(buf):
        length, mtype = struct.unpack_from("=IH", buf, off)
        if length < 16:
            break
        msg, off = buf[off:off + length], off + ((length + 3) & ~3)
        if mtype != (_SUBSYS_ULOG << 8) | _MSG_PACKET:
            continue
        prefix, payload, a = "", b"", 20
        while a + 4 <= len(msg):
            alen, atype = struct.unpack_from("=HH", msg, a)
            if alen < 4:
                break
            data = msg[a + 4:a + alen]
            if atype & 0x7FFF == _ATTR_PREFIX:
                prefix = data.rstrip(b"\0").decode(errors="replace").strip()
            elif atype & 0x7FFF == _ATTR_PAYLOAD:
                payload = data
            a += (alen + 3) & ~3
        pkt = parse_packet(payload)
        if pkt is not None:
            out.append(Drop(prefix, *pkt))
    return out


class DropLog:
    """An open NFLOG group; iterate with `async for drop in droplog`."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._queue: asyncio.Queue[list[Drop]] = asyncio.Queue(maxsize=1000)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                buf = self._sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    continue
                log.warning("nflog: %s", e)
                return
            drops = decode(buf)
            if drops and not self._queue.full():
                self._queue.put_nowait(drops)

    async def __aiter__(self) -> AsyncIterator[Drop]:
        while True:
            for d in await self._queue.get():
                yield d

    def close(self) -> None:
        """Leave the group (idempotent)."""
        if self._sock.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()


def open_group(group: int = GROUP) -> DropLog:
    """Bind NFLOG `group` in the daemon's netns, copying the first bytes of
    each packet (in a running event loop)."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        sock.bind((0, 0))
        sock.settimeout(5)
        sock.send(_config(group, _attr(_CFG_CMD, struct.pack("=B", _CMD_BIND)),
                          _attr(_CFG_MODE, struct.pack("!IBB", _COPY_RANGE,
                                                            _COPY_PACKET, 0))))
        ack = sock.recv(4096)
        if len(ack) >= 20 and struct.unpack_from("=H", ack, 4)[0] == 2:   # NLMSG_ERROR
            code = struct.unpack_from("=i", ack, 16)[0]
            if code:
                raise OSError(-code, f"NFLOG bind of group {group}: {errno.errorcode.get(-code)}")
        sock.setblocking(False)
    except OSError as e:
        raise KernelError(f"cannot listen to nftables log group {group}: {e}") from e
    return DropLog(sock)
