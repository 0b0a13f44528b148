"""The kernel's conntrack events (ctnetlink) in the daemon's netns.

A NETLINK_NETFILTER socket joined to the conntrack multicast groups NEW and
DESTROY receives one message when a connection is confirmed (its first
packet passed the whole path: a packet dropped on the way makes no event)
and one when it ends, with the byte and packet counters of both directions
(net.netfilter.nf_conntrack_acct=1) and its start and stop times
(nf_conntrack_timestamp=1): both sysctls are per netns and set by `open_events`.
No per-packet work: two messages per connection, decoded by pyroute2's
nfct_msg. A burst beyond the socket's buffer (ENOBUFS) or the daemon's queue
is lost: counted in the subscription's `lost` (kernel/nlsub.py), never fatal.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import msgspec
from pyroute2.netlink.nfnetlink.nfctsocket import nfct_msg

from boxnet.errors import KernelError
from boxnet.kernel import sysctl
from boxnet.kernel.nlsub import Subscription

log = logging.getLogger(__name__)
NETLINK_NETFILTER = 12
_GRP_NEW, _GRP_DESTROY = 1, 3
_SUBSYS_CTNETLINK = 1
_MSG_NEW, _MSG_DELETE = 0, 2
_NLM_F_CREATE = 0x400
_RCVBUF = 4 << 20
PROTOS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp"}


class CtEvent(msgspec.Struct, frozen=True):
    """One conntrack event: `kind` "new" or "destroy"; the original
    direction's addresses and ports (`dst`/`dport` as the initiator sent
    them, before DNAT), the reply direction's source (the real peer after
    DNAT); counters and times (nanoseconds since the epoch) on "destroy"."""
    kind: str
    id: int
    proto: str
    src: str
    dst: str
    sport: int
    dport: int
    reply_src: str
    reply_sport: int
    packets_orig: int = 0
    bytes_orig: int = 0
    packets_reply: int = 0
    bytes_reply: int = 0
    start_ns: int = 0
    stop_ns: int = 0


def _tuple(t) -> tuple[str, str, int, int, int]:
    ip = t.get_attr("CTA_TUPLE_IP")
    pr = t.get_attr("CTA_TUPLE_PROTO")
    src = ip.get_attr("CTA_IP_V4_SRC") or ip.get_attr("CTA_IP_V6_SRC")
    dst = ip.get_attr("CTA_IP_V4_DST") or ip.get_attr("CTA_IP_V6_DST")
    num = pr.get_attr("CTA_PROTO_NUM")
    return (src, dst, num, pr.get_attr("CTA_PROTO_SRC_PORT") or 0,
            pr.get_attr("CTA_PROTO_DST_PORT") or 0)


def _counters(c) -> tuple[int, int]:
    if c is None:
        return 0, 0
    return (c.get_attr("CTA_COUNTERS_PACKETS") or c.get_attr("CTA_COUNTERS32_PACKETS") or 0,
            c.get_attr("CTA_COUNTERS_BYTES") or c.get_attr("CTA_COUNTERS32_BYTES") or 0)


def decode(buf: bytes, dumped: bool = False) -> list[CtEvent]:
    """The conntrack events in one netlink datagram (other messages skipped);
    `dumped`: the entries of a table dump, kind "open"."""
    out, off = [], 0
    while off + 16 <= len(buf):
        length, mtype, flags = struct.unpack_from("=IHH", buf, off)
        if length < 16:
            break
        chunk, off = buf[off:off + length], off + ((length + 3) & ~3)
        if mtype >> 8 != _SUBSYS_CTNETLINK or (mtype & 0xFF) not in (_MSG_NEW, _MSG_DELETE):
            continue
        if (mtype & 0xFF) == _MSG_NEW and not flags & _NLM_F_CREATE and not dumped:
            continue   # an update
        m = nfct_msg(chunk)
        m.decode()
        orig, reply = m.get_attr("CTA_TUPLE_ORIG"), m.get_attr("CTA_TUPLE_REPLY")
        if orig is None or reply is None:
            continue
        src, dst, num, sport, dport = _tuple(orig)
        rsrc, _, _, rsport, _ = _tuple(reply)
        po, bo = _counters(m.get_attr("CTA_COUNTERS_ORIG"))
        pr, br = _counters(m.get_attr("CTA_COUNTERS_REPLY"))
        ts = m.get_attr("CTA_TIMESTAMP")
        out.append(CtEvent(
            kind="open" if dumped else "new" if (mtype & 0xFF) == _MSG_NEW else "destroy",
            id=m.get_attr("CTA_ID") or 0, proto=PROTOS.get(num, str(num)),
            src=src, dst=dst, sport=sport, dport=dport, reply_src=rsrc, reply_sport=rsport,
            packets_orig=po, bytes_orig=bo, packets_reply=pr, bytes_reply=br,
            start_ns=(ts.get_attr("CTA_TIMESTAMP_START") or 0) if ts else 0,
            stop_ns=(ts.get_attr("CTA_TIMESTAMP_STOP") or 0) if ts else 0))
    return out


# An open subscription (kernel/nlsub.py: bounded queue, lost events counted).
ConntrackEvents = Subscription


def _dump_blocking() -> list[CtEvent]:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.settimeout(10)
        sock.bind((0, 0))
        # nlmsghdr + nfgenmsg (AF_UNSPEC: every family), IPCTNL_MSG_CT_GET, NLM_F_REQUEST|DUMP
        sock.send(struct.pack("=IHHII", 20, (_SUBSYS_CTNETLINK << 8) | 1, 0x1 | 0x300, 1, 0)
                  + struct.pack("=BBH", 0, 0, 0))
        out = []
        while True:
            buf = sock.recv(1 << 16)
            out += decode(buf, dumped=True)
            off = 0
            while off + 16 <= len(buf):   # NLMSG_DONE (3) or NLMSG_ERROR (2) ends it
                length, mtype = struct.unpack_from("=IH", buf, off)
                if mtype in (2, 3):
                    return out
                off += max(16, (length + 3) & ~3)
    finally:
        sock.close()


async def dump() -> list[CtEvent]:
    """The connections the kernel tracks now, with their counters so far
    (kind "open"); a request, not per packet."""
    try:
        return await asyncio.to_thread(_dump_blocking)
    except OSError as e:
        raise KernelError(f"cannot list conntrack entries: {e}") from e


def open_events() -> ConntrackEvents:
    """Turn on conntrack accounting and timestamps in the daemon's netns and
    subscribe to its NEW and DESTROY events (in a running event loop)."""
    for key in ("net.netfilter.nf_conntrack_acct", "net.netfilter.nf_conntrack_timestamp"):
        sysctl.write_sysctl(key, "1")
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                             NETLINK_NETFILTER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        sock.bind((0, 0))
        for grp in (_GRP_NEW, _GRP_DESTROY):
            sock.setsockopt(270, 1, grp)   # SOL_NETLINK, NETLINK_ADD_MEMBERSHIP
    except OSError as e:
        raise KernelError(f"cannot subscribe to conntrack events: {e}") from e
    return Subscription(sock, decode, "conntrack events")
