"""The flow table, sans-I/O: conntrack events in, named flow records out.

A record is one connection seen from its initiator: `src` opened it to
`dst` (for a published port `dst` is the container that answered, the
address the client used is `dst_addr`), with bytes and packets each way
(`*_out`: src to dst, `*_in`: back), its start and end (seconds since the
epoch, end None while open), `state` "open", "closed" or "dropped", and `verdict`
("accepted" for a connection the kernel confirmed; a drop comes from the
ruleset's rate-limited log, its rule's prefix naming the cause: `Verdict`). A connection with no container
at either end is not a flow of boxnet's and is left out.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import msgspec

from ..kernel.conntrack import CtEvent
from ..kernel.nflog import Drop


class Verdict:
    """The verdicts a flow can carry."""
    ACCEPTED = "accepted"
    ISOLATION = "dropped by isolation"
    POLICY = "dropped by policy"
    DIRECT_ROUTING = "dropped by direct-routing protection"
    ICC = "dropped by ICC off"


class Peer(msgspec.Struct, omit_defaults=True):
    """One end of a flow: its address and port, and the names of the
    container behind it ("" for the outside)."""
    ip: str
    port: int = 0
    container: str = ""
    service: str = ""
    network: str = ""


class Flow(msgspec.Struct):
    """One connection (see the module docstring)."""
    id: int
    proto: str
    src: Peer
    dst: Peer
    verdict: str = Verdict.ACCEPTED
    state: str = "open"
    start: float = 0.0
    end: float | None = None
    bytes_out: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    packets_in: int = 0
    dst_addr: str = ""


DROP_VERDICTS = {"boxnet-isolation": Verdict.ISOLATION, "boxnet-policy": Verdict.POLICY,
                 "boxnet-direct-routing": Verdict.DIRECT_ROUTING,
                 "boxnet-icc": Verdict.ICC}   # the ruleset's log prefixes
Namer = Callable[[str], Peer | None]   # an address -> its container's Peer, or None


def _ns(ns: int, fallback: float) -> float:
    return ns / 1e9 if ns else fallback


class FlowTable:
    """Open flows by conntrack id and the last `keep` closed ones."""

    def __init__(self, namer: Namer, keep: int = 4096, clock=time.time):
        self._namer = namer
        self._clock = clock
        self.open: dict[int, Flow] = {}
        self.closed: collections.deque[Flow] = collections.deque(maxlen=keep)
        self._dropped: dict[tuple, Flow] = {}

    def _flow(self, ev: CtEvent) -> Flow | None:
        src = self._namer(ev.src)
        # after DNAT (a published port) the reply comes from the real peer
        real = ev.reply_src if ev.reply_src != ev.dst else ev.dst
        dst = self._namer(real)
        if src is None and dst is None:
            return None
        now = self._clock()
        f = Flow(id=ev.id, proto=ev.proto,
                 src=Peer(ip=ev.src, port=ev.sport, **_names(src)),
                 dst=Peer(ip=real, port=ev.reply_sport if real != ev.dst else ev.dport,
                          **_names(dst)),
                 start=_ns(ev.start_ns, now),
                 dst_addr=f"{ev.dst}:{ev.dport}" if real != ev.dst else "")
        _count(f, ev)
        return f

    def apply(self, ev: CtEvent) -> Flow | None:
        """Take one event; return the flow it opened or closed (None when
        it is no flow of boxnet's)."""
        if ev.kind == "destroy":
            f = self.open.pop(ev.id, None) or self._flow(ev)
            if f is None:
                return None
            _count(f, ev)
            f.state, f.end = "closed", _ns(ev.stop_ns, self._clock())
            self.closed.append(f)
            return f
        f = self._flow(ev)
        if f is not None:
            old = self.open.get(ev.id)
            if old is not None:           # a dump of a flow we know: its counters
                _count(old, ev)
                return old
            self.open[ev.id] = f
        return f

    def drop(self, d: Drop) -> Flow | None:
        """Take one logged drop (kernel/nflog.py): a flow in state "dropped"
        with the verdict of its rule's prefix; the same attempt again (a
        retransmission) counts a packet more on the same record."""
        src, dst = self._namer(d.src), self._namer(d.dst)
        if src is None and dst is None:
            return None
        key = (d.proto, d.src, d.sport, d.dst, d.dport)
        f = self._dropped.get(key)
        if f is not None:
            f.packets_out += 1
            f.end = self._clock()
            return f
        now = self._clock()
        f = Flow(id=0, proto=d.proto, src=Peer(ip=d.src, port=d.sport, **_names(src)),
                 dst=Peer(ip=d.dst, port=d.dport, **_names(dst)),
                 verdict=DROP_VERDICTS.get(d.prefix, d.prefix), state="dropped",
                 start=now, end=now, packets_out=1)
        if len(self._dropped) >= self.closed.maxlen:
            self._dropped.pop(next(iter(self._dropped)))
        self._dropped[key] = f
        self.closed.append(f)
        return f

    def refresh(self, dumped: list[CtEvent]) -> None:
        """Counters of the open flows from a conntrack dump; flows the dump
        no longer has are left to their destroy event."""
        for ev in dumped:
            self.apply(ev)

    def snapshot(self) -> list[Flow]:
        """Every known flow, closed ones first, each group by start."""
        return sorted(self.closed, key=lambda f: f.start) + \
            sorted(self.open.values(), key=lambda f: f.start)


def _names(p: Peer | None) -> dict:
    return {} if p is None else {"container": p.container, "service": p.service,
                                 "network": p.network}


def _count(f: Flow, ev: CtEvent) -> None:
    if ev.packets_orig or ev.packets_reply:
        f.bytes_out, f.packets_out = ev.bytes_orig, ev.packets_orig
        f.bytes_in, f.packets_in = ev.bytes_reply, ev.packets_reply


def matches(f: Flow, network: str = "", container: str = "") -> bool:
    """The filters of `boxnet flows`: a network or a container at either end."""
    if network and network not in (f.src.network, f.dst.network):
        return False
    if container and container not in (f.src.container, f.dst.container):
        return False
    return True
