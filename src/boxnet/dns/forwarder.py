"""Forwarding of the names the embedded resolver does not own, from the host netns.

Sockets to upstreams are made in the daemon's own netns (the "host"), so a
loopback upstream (a local cache, systemd-resolved) works. Each query goes
to the first upstream; when it fails (refused, SERVFAIL, REFUSED) the next is
tried at once, and when it is merely slow the next is started after a
stagger while the first may still answer: no upstream costs the whole
timeout in turn. A truncated UDP answer is retried over TCP. The query's own
bytes are sent (EDNS passes through) under a fresh random id, from a fresh
socket (a random source port). Only a reply that answers that very query is
accepted (replies.accept_reply: id, question with its case, source); anything
else, spoofed or malformed, is ignored while the real answer is awaited.
Answers are cached for their TTL (negative ones briefly) under a key of
everything that changes them (replies.cache_key: the upstream set, the name,
RD/AD/CD, EDNS version, DO, options) and served with TTLs counted down.
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

from . import replies
from .upstreams import upstream_addr

log = logging.getLogger(__name__)

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
        """Everything that changes the answer (see replies.cache_key)."""
        return replies.cache_key(upstreams, q)

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
        wire, m = resp
        ttl = self._store(key, wire, m)
        return data[:2] + wire[2:], ttl

    # ---- cache ---------------------------------------------------------
    def _store(self, key: tuple, resp: bytes, m: dns.message.Message) -> float:
        """Cache an accepted upstream answer; return its TTL (0: not cached)."""
        ttl = replies.cache_ttl(m)
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
        replies.without_client_options(m)
        return m.to_wire()

    # ---- upstream queries ----------------------------------------------
    async def _race(self, body: bytes, q: dns.message.Message,
                    upstreams: tuple[str, ...]) -> tuple[bytes, dns.message.Message] | None:
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
                    if resp[1].rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                        fallback = resp
                        continue
                    return resp
        finally:
            for t in pending:
                t.cancel()

    async def _one(self, addr: str, body: bytes, q: dns.message.Message,
                   deadline: float) -> tuple[bytes, dns.message.Message]:
        """One upstream: UDP, then TCP if the answer is truncated."""
        ip, port = upstream_addr(addr)
        query = struct.pack("!H", secrets.randbits(16)) + body
        loop = asyncio.get_running_loop()
        resp = await asyncio.wait_for(self._udp(ip, port, q, query), deadline - loop.time())
        if resp[1].flags & dns.flags.TC:   # the full answer needs TCP
            self.stats["tcp_retries"] += 1
            resp = await asyncio.wait_for(self._tcp(ip, port, q, query), deadline - loop.time())
        return resp

    @staticmethod
    async def _udp(ip: str, port: int, q: dns.message.Message,
                   query: bytes) -> tuple[bytes, dns.message.Message]:
        loop = asyncio.get_running_loop()
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            # Connected: the kernel delivers only datagrams from ip:port (a reply
            # from any other source never reaches us), and ICMP unreachable shows
            # as an error.
            s.connect((ip, port))
            await loop.sock_sendall(s, query)
            while True:
                resp = await loop.sock_recv(s, 65535)
                m = replies.accept_reply(q, query, resp)
                if m is not None:
                    return resp, m
                log.debug("dns: ignored a reply from %s that does not answer our query", ip)

    @staticmethod
    async def _tcp(ip: str, port: int, q: dns.message.Message,
                   query: bytes) -> tuple[bytes, dns.message.Message]:
        reader, writer = await asyncio.open_connection(ip, port)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            while True:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
                resp = await reader.readexactly(n)
                m = replies.accept_reply(q, query, resp)
                if m is not None:
                    return resp, m
        finally:
            writer.close()
