"""Forwarder against loopback upstreams: failover, stagger, TCP on TC, cache with TTLs."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.IN.A import A
import dns.rcode
import dns.rrset

from boxnet.dns.forwarder import Forwarder


IN, A_T = dns.rdataclass.IN, dns.rdatatype.A


class Upstream(asyncio.DatagramProtocol):
    """A loopback UDP (+TCP) upstream: answer, silent, refuse or truncate."""

    def __init__(self, mode="answer"):
        self.mode, self.seen, self.tcp_seen = mode, 0, 0

    def reply(self, data: bytes, tcp: bool) -> bytes | None:
        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        if self.mode == "refuse":
            r.set_rcode(dns.rcode.REFUSED)
        elif self.mode == "tc" and not tcp:
            r.flags |= dns.flags.TC
        elif q.question[0].name.to_text().startswith("nx"):
            r.set_rcode(dns.rcode.NXDOMAIN)
        else:
            ip = "192.0.2.9" if self.mode != "flags" else f"192.0.2.{flag_code(q)}"
            r.answer.append(dns.rrset.from_rdata_list(q.question[0].name, 60, [A(IN, A_T, ip)]))
        return r.to_wire()

    def connection_made(self, transport):
        self.t = transport

    def datagram_received(self, data, addr):
        self.seen += 1
        if self.mode != "silent":
            self.t.sendto(self.reply(data, False), addr)

    async def tcp(self, reader, writer):
        self.tcp_seen += 1
        n = struct.unpack("!H", await reader.readexactly(2))[0]
        out = self.reply(await reader.readexactly(n), True)
        writer.write(struct.pack("!H", len(out)) + out)
        await writer.drain()
        writer.close()


def flag_code(q) -> int:
    """A number for the query's RD, CD, AD, DO bits and EDNS presence (the 'flags' upstream
    answers 192.0.2.N with it, so each variant's answer is told apart)."""
    return (1 + bool(q.flags & dns.flags.RD) + 2 * bool(q.flags & dns.flags.CD)
            + 4 * bool(q.flags & dns.flags.AD) + 8 * bool(q.ednsflags & dns.flags.DO)
            + 16 * (q.edns >= 0))


async def start(mode="answer"):
    loop = asyncio.get_running_loop()
    up = Upstream(mode)
    tr, _ = await loop.create_datagram_endpoint(lambda: up, local_addr=("127.0.0.1", 0))
    port = tr.get_extra_info("sockname")[1]
    srv = None
    if mode == "tc":
        srv = await asyncio.start_server(up.tcp, "127.0.0.1", port)
    return up, f"127.0.0.1:{port}", (tr, srv)


def query(name="www.example.test"):
    q = dns.message.make_query(name, "A")
    return q, q.to_wire()


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_failover_and_cache():
    dead, dead_addr, _ = await start("silent")
    good, good_addr, _ = await start("answer")
    closed = f"127.0.0.1:{free_port()}"   # nobody listens: ICMP refused -> next at once
    f = Forwarder(timeout=2.0)
    q, data = query()
    t0 = time.monotonic()
    resp = await f.resolve(q, data, (closed, dead_addr, good_addr))
    took = time.monotonic() - t0
    m = dns.message.from_wire(resp)
    assert m.id == q.id and m.answer[0][0].to_text() == "192.0.2.9"
    assert dead.seen == 1 and took < 1.5     # the dead one did not cost the timeout
    q2, data2 = query("WWW.example.test")
    m2 = dns.message.from_wire(await f.resolve(q2, data2, (closed, dead_addr, good_addr)))
    assert good.seen == 1 and m2.id == q2.id and m2.question[0].name.to_text() == "WWW.example.test."
    assert f.stats["cache_hits"] == 1


async def test_negative_cached_refused_not():
    good, good_addr, _ = await start("answer")
    bad, bad_addr, _ = await start("refuse")
    f = Forwarder(timeout=1.0)
    q, data = query("nx.example.test")
    assert dns.message.from_wire(await f.resolve(q, data, (good_addr,))).rcode() == dns.rcode.NXDOMAIN
    await f.resolve(q, data, (good_addr,))
    assert good.seen == 1                      # NXDOMAIN cached (briefly)
    q, data = query("r.example.test")
    m = dns.message.from_wire(await f.resolve(q, data, (bad_addr, good_addr)))
    assert m.rcode() == dns.rcode.NOERROR      # REFUSED from the first: next one answers
    m = dns.message.from_wire(await f.resolve(q, data, (bad_addr,)))
    assert m.rcode() == dns.rcode.REFUSED and bad.seen == 2


async def test_truncated_retried_over_tcp_and_timeout():
    up, addr, _ = await start("tc")
    f = Forwarder(timeout=1.0)
    q, data = query()
    m = dns.message.from_wire(await f.resolve(q, data, (addr,)))
    assert up.tcp_seen == 1 and not m.flags & dns.flags.TC and m.answer
    dead, dead_addr, _ = await start("silent")
    t0 = time.monotonic()
    assert await f.resolve(*query("slow.test"), (dead_addr,)) is None
    assert 0.9 < time.monotonic() - t0 < 1.5


class Spoofer(Upstream):
    """An upstream that sends decoys before its real answer: another name, the same
    name in another case, another type, another id, a non-response, junk after a
    valid copy, a cut-off copy, and a reply with two questions. Each decoy carries
    a poison address (198.51.100.66); the real answer comes last, after a pause."""

    POISON = "198.51.100.66"

    def decoys(self, data: bytes) -> list[bytes]:
        q = dns.message.from_wire(data)
        qn = q.question[0].name

        def resp(name=qn, rdtype="A", qid=q.id, qr=True):
            r = dns.message.make_response(dns.message.make_query(name, rdtype))
            r.id = qid
            if not qr:
                r.flags &= ~dns.flags.QR
            r.answer.append(dns.rrset.from_text(name, 600, "IN", rdtype,
                                                self.POISON if rdtype == "A" else "::66"))
            return r.to_wire()
        swapped = dns.name.from_text(qn.to_text().swapcase())
        good = resp()
        two = bytearray(good)
        two[4:6] = b"\x00\x02"   # QDCOUNT 2 with the right first question
        return [resp(name="other.example.test."), resp(name=swapped), resp(rdtype="AAAA"),
                resp(qid=(q.id + 1) & 0xFFFF), resp(qr=False), good + b"junk",
                good[:-3], bytes(two)]

    def datagram_received(self, data, addr):
        self.seen += 1
        for d in self.decoys(data):
            self.t.sendto(d, addr)
        asyncio.get_running_loop().call_later(
            0.1, self.t.sendto, self.reply(data, False), addr)


async def test_spoofed_replies_ignored_and_never_cached():
    """Only the reply that answers our query (id, question with case, type) is taken."""
    loop = asyncio.get_running_loop()
    up = Spoofer()
    tr, _ = await loop.create_datagram_endpoint(lambda: up, local_addr=("127.0.0.1", 0))
    addr = f"127.0.0.1:{tr.get_extra_info('sockname')[1]}"
    f = Forwarder(timeout=2.0)
    for name in ("www.example.test", "MiXeD.Example.Test"):
        q, data = query(name)
        m = dns.message.from_wire(await f.resolve(q, data, (addr,)))
        assert [rd.to_text() for rr in m.answer for rd in rr] == ["192.0.2.9"], (name, m)
        # the cached copy is the real answer too, also for another spelling
        q2, data2 = query(name.upper())
        m2 = dns.message.from_wire(await f.resolve(q2, data2, (addr,)))
        assert [rd.to_text() for rr in m2.answer for rd in rr] == ["192.0.2.9"]
    assert up.seen == 2 and f.stats["cache_hits"] == 2
    assert not any(Spoofer.POISON.encode() in ent[2] for ent in f.cache.values())
    tr.close()


async def test_flags_and_upstream_sets_do_not_share_entries():
    """RD, CD, DO and AD variants of one name and two upstream sets are separate entries."""
    a, a_addr, _ = await start("flags")
    b, b_addr, _ = await start("answer")
    f = Forwarder(timeout=1.0)
    variants = [dict(), dict(flags=0), dict(flags=dns.flags.RD | dns.flags.CD),
                dict(flags=dns.flags.RD | dns.flags.AD), dict(want_dnssec=True),
                dict(use_edns=0)]
    for kw in variants:
        q = dns.message.make_query("v.example.test", "A", **kw)
        assert await f.resolve(q, q.to_wire(), (a_addr,)) is not None
    assert a.seen == len(variants) and len(f.cache) == len(variants)
    for kw in variants:   # each variant is now a hit of its own
        q = dns.message.make_query("v.example.test", "A", **kw)
        m = dns.message.from_wire(await f.resolve(q, q.to_wire(), (a_addr,)))
        assert m.answer[0][0].to_text() == f"192.0.2.{flag_code(q)}", kw
    assert a.seen == len(variants)
    q, data = query("v.example.test")
    m = dns.message.from_wire(await f.resolve(q, data, (b_addr,)))
    assert m.answer[0][0].to_text() == "192.0.2.9"     # b's own answer, not a's entry
    await f.resolve(q, data, (b_addr, a_addr))
    assert b.seen == 2      # another upstream set again: asked, not served from a cache entry


async def test_truncated_answer_without_tcp_is_not_cached():
    """TC over UDP and no TCP service: a failure, and nothing is cached."""
    up, addr, (tr, _) = await start("answer")
    up.mode = "tc"           # TC over UDP, and no TCP listener on that port
    f = Forwarder(timeout=0.5)
    q, data = query()
    assert await f.resolve(q, data, (addr,)) is None
    assert not f.cache and up.seen == 1


async def test_cached_answer_does_not_carry_another_clients_cookie():
    """A COOKIE option echoed for client 1 is not served to client 2 from the cache."""
    class CookieUpstream(Upstream):
        def reply(self, data, tcp):
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            r.use_edns(0, 0, 1232, options=q.options)     # echo the client's cookie
            r.answer.append(dns.rrset.from_rdata_list(q.question[0].name, 60,
                                                      [A(IN, A_T, "192.0.2.9")]))
            return r.to_wire()
    loop = asyncio.get_running_loop()
    up = CookieUpstream()
    tr, _ = await loop.create_datagram_endpoint(lambda: up, local_addr=("127.0.0.1", 0))
    addr = f"127.0.0.1:{tr.get_extra_info('sockname')[1]}"
    f = Forwarder(timeout=1.0)
    for n, cookie in enumerate((b"client01", b"client02")):
        q = dns.message.make_query("c.example.test", "A", use_edns=0,
                                   options=[dns.edns.CookieOption(cookie, b"")])
        m = dns.message.from_wire(await f.resolve(q, q.to_wire(), (addr,)))
        cookies = [o.client for o in m.options if o.otype == dns.edns.OptionType.COOKIE]
        assert cookies == ([cookie] if n == 0 else []), cookies
    assert up.seen == 1      # the second client was served from the cache
    tr.close()


async def test_refusal_without_question_fails_over_at_once():
    """A REFUSED that leaves out the question (RFC 1035 allows it) still counts as a
    failure: the next upstream is asked at once, not after the stagger."""
    class BareRefuser(Upstream):
        def reply(self, data, tcp):
            r = dns.message.make_response(dns.message.from_wire(data))
            r.set_rcode(dns.rcode.REFUSED)
            r.question = []
            return r.to_wire()
    loop = asyncio.get_running_loop()
    bare = BareRefuser()
    tr, _ = await loop.create_datagram_endpoint(lambda: bare, local_addr=("127.0.0.1", 0))
    bare_addr = f"127.0.0.1:{tr.get_extra_info('sockname')[1]}"
    good, good_addr, _ = await start("answer")
    f = Forwarder(timeout=3.0)     # stagger: 1 s
    q, data = query("refused.example.test")
    t0 = time.monotonic()
    m = dns.message.from_wire(await f.resolve(q, data, (bare_addr, good_addr)))
    assert m.answer and time.monotonic() - t0 < 0.5 and bare.seen == 1
    m = dns.message.from_wire(await f.resolve(*query("only.example.test"), (bare_addr,)))
    assert m.rcode() == dns.rcode.REFUSED and not f.cache.get(
        f.cache_key((bare_addr,), query("only.example.test")[0]))
    tr.close()
