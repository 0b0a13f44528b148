"""Fuzzing the embedded resolver's wire handling (hypothesis): no crash, no
unhandled exception, and every reply is a well-formed DNS header answering the
query's id. Covers the UDP slow path, the TCP path and the forwarder's
handling of hostile upstream answers."""

from __future__ import annotations

import asyncio
import struct

import dns.message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxnet.dns import replies
from boxnet.dns import resolver as res_mod
from boxnet.dns.forwarder import Forwarder
from boxnet.dns.resolver import Resolver
from dnsfakes import FakeService, table

TABLE = table()
SETTINGS = settings(max_examples=1500, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def make_resolver() -> Resolver:
    r = Resolver(FakeService(TABLE), "a" * 64, ("127.0.0.1",))
    r._refresh()
    r.pending = res_mod.MAX_PENDING   # forwarding path decided but not started (no loop)
    return r


R = make_resolver()

labels = st.one_of(st.sampled_from([b"c1", b"web", b"pool", b"n1", b"C1", b"", b"arpa"]),
                   st.binary(min_size=0, max_size=70))


@st.composite
def queries(draw):
    """Mostly plausible DNS messages, with hostile headers, names and sections."""
    flags = draw(st.integers(0, 0xFFFF))
    counts = [draw(st.integers(0, 3)) if draw(st.booleans()) else draw(st.integers(0, 0xFFFF))
              for _ in range(4)]
    body = b""
    for _ in range(draw(st.integers(0, 3))):
        for lab in draw(st.lists(labels, max_size=6)):
            body += bytes([len(lab) & 0xFF]) + lab
        if draw(st.booleans()):
            body += struct.pack("!H", 0xC000 | draw(st.integers(0, 0x3FFF)))   # pointer
        else:
            body += b"\x00"
        body += struct.pack("!HH", draw(st.sampled_from([1, 28, 12, 255, 41, 0, 65535])),
                            draw(st.sampled_from([1, 3, 255, 254, 0, 4096])))
    body += draw(st.binary(max_size=40))
    return struct.pack("!HH4H", draw(st.integers(0, 0xFFFF)), flags, *counts) + body


def check_reply(data: bytes, out) -> None:
    if out is None:
        return
    reply = data[:2] + (out[0] if isinstance(out, list) else out)
    assert len(reply) >= 12 and reply[:2] == data[:2] and reply[2] & 0x80


@SETTINGS
@given(st.one_of(queries(), st.binary(max_size=600)))
def test_udp_slow_path_never_raises(data):
    out = R._miss(data, ("127.0.0.1", 1))
    check_reply(data, out)


@SETTINGS
@given(st.sampled_from(["c1", "pool", "web.", "c1.n1", "x.example"]),
       st.sampled_from(["A", "AAAA", "PTR", "TXT", "ANY"]), st.integers(0, 60),
       st.binary(max_size=3))
def test_valid_queries_answered_and_mutations_survive(name, rdtype, cut, junk):
    data = dns.message.make_query(name, rdtype).to_wire()
    out = R._miss(data, ("127.0.0.1", 1))
    if out is not None:
        reply = dns.message.from_wire(data[:2] + (out[0] if isinstance(out, list) else out))
        assert reply.id == struct.unpack("!H", data[:2])[0]
    mutated = data[:max(0, len(data) - cut)] + junk
    check_reply(mutated, R._miss(mutated, ("127.0.0.1", 1)))


@settings(max_examples=300, deadline=None)
@given(st.one_of(queries(), st.binary(max_size=300)))
def test_tcp_path_never_raises(data):
    out = asyncio.run(R._answer_tcp(data))
    if out is not None:
        assert len(out) >= 12 and out[:2] == data[:2]


@settings(max_examples=500, deadline=None)
@given(st.one_of(queries(), st.binary(max_size=300)))
def test_forwarder_cache_survives_hostile_upstream_answers(resp):
    f = Forwarder()
    q = dns.message.make_query("x.example", "A")
    query = q.to_wire()
    key = f.cache_key(("127.0.0.1",), q)
    for wire in (resp, query[:2] + resp[2:]):   # any id, and our own id
        m = replies.accept_reply(q, query, wire)
        if m is None:
            continue
        if not m.question:   # only a failure may come without the question
            assert m.rcode() in replies.FAILURES and replies.cache_ttl(m) == 0
        else:
            assert m.question[0].name.labels == q.question[0].name.labels
        f._store(key, wire, m)
    out = f._cached(key, q)
    assert out is None or dns.message.from_wire(out).id == q.id


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["x.example", "X.Example", "y.example"]),
       st.sampled_from(["A", "AAAA", "TXT"]), st.integers(0, 0xFFFF), st.booleans(),
       st.binary(max_size=8))
def test_forwarder_accepts_only_replies_to_its_question(name, rdtype, flags, edns, junk):
    """A reply for another name (or case), type or id is never accepted."""
    q = dns.message.make_query("x.example", "A", use_edns=0 if edns else False)
    query = q.to_wire()
    other = dns.message.make_response(dns.message.make_query(name, rdtype))
    other.id, other.flags = q.id, (flags | 0x8000) & ~0x7800   # QR, opcode QUERY
    m = replies.accept_reply(q, query, other.to_wire() + junk)
    same = (name, rdtype) == ("x.example", "A")
    assert m is None or (same and not junk)
