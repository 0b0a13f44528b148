"""Forwarding of the names the embedded resolver does not own, from the host netns.

Sockets to upstreams are made in the daemon's own netns (the "host"), so a
loopback upstream (a local cache, systemd-resolved) works. Each query goes
to the first upstream; when it fails (refused, SERVFAIL, REFUSED) the next is
tried at once, and when it is merely slow the next is started after a
stagger while the first may still answer: no upstream costs the whole
timeout in turn. A truncated UDP answer is retried over TCP. The query's own
bytes are sent (EDNS passes through) under a fresh random id. Answers are
cached for their TTL (negative ones briefly) and served with TTLs counted
down.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rcode

from .upstreams import upstream_addr

log = logging.getLogger(__name__)

MAX_TTL = 3600
NEG_TTL_MAX = 30          # "negative answers too, briefly"
NEG_TTL_NO_SOA = 5
CACHE_MAX = 10000


class Forwarder:
    """Upstream forwarding with a shared answer cache and bounded concurrency."""

    def __init__(self, timeout: float = 4.0, max_inflight: int = 512):
        """timeout: per query, all upstreams together (--dns-timeout)."""
        self.timeout = timeout
        self.max_inflight = max_inflight
        self.inflight = 0
        self.cache: dict[tuple, tuple[float, float, bytes]] = {}
        self.stats = {"forwarded": 0, "cache_hits": 0, "tcp_retries": 0, "failures": 0}

    @staticmethod
    def cache_key(upstreams: tuple, q: dns.message.Message) -> tuple:
        """(upstreams, name, type, class, EDNS?, DO, CD)."""
        qr = q.question[0]
        return (upstreams, qr.name.to_text().lower(), qr.rdtype, qr.rdclass, q.edns >= 0,
                bool(q.ednsflags & dns.flags.DO), bool(q.flags & dns.flags.CD))

    async def resolve(self, q: dns.message.Message, data: bytes,
                      upstreams: tuple[str, ...]) -> bytes | None:
        """The full answer (with the client's id) for a query, or None on failure."""
        return (await self.resolve_ttl(q, data, upstreams))[0]

    async def resolve_ttl(self, q: dns.message.Message, data: bytes,
                          upstreams: tuple[str, ...]) -> tuple[bytes | None, float]:
        """(answer or None, seconds it may still be cached: 0 for not at all)."""
        key = self.cache_key(upstreams, q)
        hit = self._cached(key, q)
        if hit is not None:
            self.stats["cache_hits"] += 1
            return hit, self.cache[key][1] - time.monotonic() if key in self.cache else 0
        if not upstreams or self.inflight >= self.max_inflight:
            self.stats["failures"] += 1
            return None, 0
        self.inflight += 1
        try:
            resp = await self._race(data[2:], q, upstreams)
        finally:
            self.inflight -= 1
        if resp is None:
            self.stats["failures"] += 1
            return None, 0
        self.stats["forwarded"] += 1
        ttl = self._store(key, resp)
        return data[:2] + resp[2:], ttl

    # ---- cache ---------------------------------------------------------
    def _store(self, key: tuple, resp: bytes) -> float:
        """Cache an upstream answer; return its TTL (0: not cached)."""
        try:
            m = dns.message.from_wire(resp)
        except Exception:  # an upstream's junk is relayed, never cached
            return 0
        rc = m.rcode()
        if rc == dns.rcode.NOERROR and m.answer:
            ttl = min(min(rr.ttl for rr in m.answer), MAX_TTL)
        elif rc in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            soa = [rr for rr in m.authority if rr.rdtype == 6]
            ttl = (min(soa[0].ttl, soa[0][0].minimum) if soa else NEG_TTL_NO_SOA)
            ttl = min(ttl, NEG_TTL_MAX)
        else:
            return 0  # SERVFAIL and friends: not cached
        if ttl <= 0:
            return 0
        if len(self.cache) >= CACHE_MAX:
            for k in list(self.cache)[:CACHE_MAX // 10]:
                del self.cache[k]
        now = time.monotonic()
        self.cache[key] = (now, now + ttl, resp)
        return ttl

    def _cached(self, key: tuple, q: dns.message.Message) -> bytes | None:
        ent = self.cache.get(key)
        if ent is None:
            return None
        stored, expires, resp = ent
        now = time.monotonic()
        if now >= expires:
            del self.cache[key]
            return None
        try:
            m = dns.message.from_wire(resp)
        except Exception:
            return None
        age = int(now - stored)
        for section in (m.answer, m.authority, m.additional):
            for rr in section:
                rr.ttl = max(0, rr.ttl - age)
        m.id = q.id
        m.question = q.question   # the client's spelling (0x20 case randomisation)
        return m.to_wire()

    # ---- upstream queries ----------------------------------------------
    async def _race(self, body: bytes, q: dns.message.Message,
                    upstreams: tuple[str, ...]) -> bytes | None:
        """Query upstreams in turn with staggered starts; first good answer wins."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        stagger = max(0.05, self.timeout / (len(upstreams) + 1))
        pending: set[asyncio.Task] = set()
        todo = list(upstreams)
        fallback = None   # a SERVFAIL/REFUSED answer, used if nothing better comes
        try:
            while True:
                if todo:  # first start, after a failure, or after a stagger
                    pending.add(asyncio.ensure_future(self._one(todo.pop(0), body, q, deadline)))
                left = deadline - loop.time()
                if left <= 0 or not pending:
                    return fallback
                done, pending = await asyncio.wait(
                    pending, timeout=min(stagger, left) if todo else left,
                    return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    resp = None if t.exception() else t.result()
                    if resp is None:
                        continue
                    if (resp[3] & 0x0F) in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                        fallback = resp
                        continue
                    return resp
        finally:
            for t in pending:
                t.cancel()

    async def _one(self, addr: str, body: bytes, q: dns.message.Message,
                   deadline: float) -> bytes:
        """One upstream: UDP, then TCP if the answer is truncated."""
        ip, port = upstream_addr(addr)
        qid = secrets.randbits(16)
        query = struct.pack("!H", qid) + body
        resp = await asyncio.wait_for(self._udp(ip, port, query, qid),
                                      deadline - asyncio.get_running_loop().time())
        if resp[2] & 0x02:   # TC: the full answer needs TCP
            self.stats["tcp_retries"] += 1
            resp = await asyncio.wait_for(self._tcp(ip, port, query, qid),
                                          deadline - asyncio.get_running_loop().time())
        return resp

    @staticmethod
    async def _udp(ip: str, port: int, query: bytes, qid: int) -> bytes:
        loop = asyncio.get_running_loop()
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            s.connect((ip, port))   # connected: ICMP unreachable shows as an error
            await loop.sock_sendall(s, query)
            while True:
                resp = await loop.sock_recv(s, 65535)
                # Only an answer to OUR id and question is accepted (anti-spoofing).
                if len(resp) >= 12 and resp[:2] == query[:2] and resp[2] & 0x80:
                    return resp

    @staticmethod
    async def _tcp(ip: str, port: int, query: bytes, qid: int) -> bytes:
        reader, writer = await asyncio.open_connection(ip, port)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            while True:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
                resp = await reader.readexactly(n)
                if len(resp) >= 12 and resp[:2] == query[:2]:
                    return resp
        finally:
            writer.close()
