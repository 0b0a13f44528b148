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

import errno
import ipaddress
import logging
import socket
import struct
import msgspec

from boxnet.errors import KernelError
from boxnet.kernel.nlsub import Subscription

log = logging.getLogger(__name__)
GROUP = 2001
NETLINK_NETFILTER = 12
_SUBSYS_ULOG = 4
_MSG_PACKET, _MSG_CONFIG = 0, 1
_CFG_CMD, _CFG_MODE = 1, 2
_CMD_BIND = 1
_COPY_PACKET = 2
_COPY_RANGE = 64
_ATTR_PACKET_HDR, _ATTR_PAYLOAD, _ATTR_PREFIX = 1, 9, 10
_ETH_P_ARP = 0x0806
_ND_SOLICIT = 135   # ICMPv6 neighbour solicitation
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


def parse_arp(payload: bytes) -> tuple[str, str, str, int, int] | None:
    """("arp", sender IP, target IP, 0, 0) of an Ethernet/IPv4 ARP packet.

    Why: the bridge table's ICC-off drop takes the ARP request that would
    precede any IP packet between two ports, so a blocked attempt is logged
    as the ARP for its destination (firewall/nft/bridgeset.py)."""
    if len(payload) < 28 or payload[0:6] != b"\x00\x01\x08\x00\x06\x04":
        return None
    return ("arp", str(ipaddress.IPv4Address(payload[14:18])),
            str(ipaddress.IPv4Address(payload[24:28])), 0, 0)


def parse_packet(payload: bytes, hw_protocol: int = 0) -> tuple[str, str, str, int, int] | None:
    """(proto, src, dst, sport, dport) of the first bytes of an IP packet
    (or of an ARP packet: `hw_protocol` 0x0806, its EtherType, from a
    bridge-family log)."""
    if not payload:
        return None
    if hw_protocol == _ETH_P_ARP:
        return parse_arp(payload)
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
    if ver == 6 and num == 58 and len(l4) >= 24 and l4[0] == _ND_SOLICIT:
        # the ICC-off log of a neighbour solicitation: the attempt is on its
        # target (the packet itself goes to a solicited-node multicast group)
        return "ndp", src, str(ipaddress.IPv6Address(l4[8:24])), 0, 0
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
        prefix, payload, hwproto, a = "", b"", 0, 20
        while a + 4 <= len(msg):
            alen, atype = struct.unpack_from("=HH", msg, a)
            if alen < 4:
                break
            data = msg[a + 4:a + alen]
            if atype & 0x7FFF == _ATTR_PREFIX:
                prefix = data.rstrip(b"\0").decode(errors="replace").strip()
            elif atype & 0x7FFF == _ATTR_PAYLOAD:
                payload = data
            elif atype & 0x7FFF == _ATTR_PACKET_HDR and len(data) >= 2:
                hwproto = struct.unpack_from("!H", data)[0]
            a += (alen + 3) & ~3
        pkt = parse_packet(payload, hwproto)
        if pkt is not None:
            out.append(Drop(prefix, *pkt))
    return out


# An open NFLOG group (kernel/nlsub.py: bounded queue, lost drops counted).
DropLog = Subscription


def open_group(group: int = GROUP) -> DropLog:
    """Bind NFLOG `group` in the daemon's netns, copying the first bytes of
    each packet (in a running event loop)."""
    sock = None
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
    except OSError as e:
        if sock is not None:
            sock.close()
        raise KernelError(f"cannot listen to nftables log group {group}: {e}") from e
    return Subscription(sock, decode, "nflog")
