"""The forwarder's cache key and upstream reply checks (dns/replies.py), without sockets."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset

from boxnet.dns import replies

UP = ("198.18.0.2",)


def key(name="www.example.test", rdtype="A", upstreams=UP, **kw):
    return replies.cache_key(upstreams, dns.message.make_query(name, rdtype, **kw))


def ecs(net: str) -> dns.edns.ECSOption:
    return dns.edns.ECSOption(net, 24)


def test_key_separates_everything_that_changes_the_answer():
    base = key()
    others = [key(upstreams=("198.18.0.3",)), key(upstreams=("198.18.0.3",) + UP),
              key(upstreams=()), key(rdtype="AAAA"), key(name="www2.example.test"),
              key(flags=0), key(flags=dns.flags.RD | dns.flags.CD),
              key(flags=dns.flags.RD | dns.flags.AD), key(use_edns=0),
              key(want_dnssec=True), key(use_edns=0, options=[ecs("192.0.2.0")]),
              key(use_edns=0, options=[ecs("198.51.100.0")])]
    assert len({base, *others}) == len(others) + 1
    q = dns.message.make_query("www.example.test", "A", rdclass="CH")
    assert replies.cache_key(UP, q) != base


def test_key_folds_case_and_ignores_per_client_options():
    assert key("WWW.Example.TEST") == key()
    plain = key(use_edns=0)
    cookie = key(use_edns=0, options=[dns.edns.CookieOption(b"12345678", b"")])
    padded = key(use_edns=0, options=[dns.edns.GenericOption(dns.edns.OptionType.PADDING,
                                                             b"\x00" * 8)])
    assert cookie == plain == padded
    # the payload size does not change the stored (always complete) answer
    assert key(use_edns=0, payload=512) == key(use_edns=0, payload=4096)


def reply_to(q: dns.message.Message, **change) -> bytes:
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "192.0.2.1"))
    for k, v in change.items():
        setattr(r, k, v)
    return r.to_wire()


def test_accept_reply_only_for_our_question():
    q = dns.message.make_query("MiXeD.example.test", "A")
    wire = q.to_wire()
    good = reply_to(q)
    assert replies.accept_reply(q, wire, good) is not None
    decoys = {
        "other id": reply_to(q, id=(q.id + 1) & 0xFFFF),
        "not a response": bytes([good[0], good[1], good[2] & 0x7F]) + good[3:],
        "opcode NOTIFY": bytes([good[0], good[1], good[2] | 0x20]) + good[3:],
        "other name": reply_to(dns.message.make_query("evil.example.test", "A", id=q.id)),
        "other case": reply_to(dns.message.make_query("mixed.example.test", "A", id=q.id)),
        "other type": reply_to(dns.message.make_query("MiXeD.example.test", "AAAA", id=q.id)),
        "other class": reply_to(dns.message.make_query("MiXeD.example.test", "A",
                                                       rdclass="CH", id=q.id)),
        "no question": good[:4] + b"\x00\x00" + good[6:12],
        "two questions": good[:4] + b"\x00\x02" + good[6:],
        "trailing junk": good + b"\x00",
        "cut short": good[:-2],
        "header only": good[:12],
        "short": good[:5],
    }
    for what, resp in decoys.items():
        assert replies.accept_reply(q, wire, resp) is None, what
    # A refusal without the question is accepted as a failure, never as an answer.
    bare = dns.message.make_response(q)
    bare.question = []
    for rcode, ok in ((dns.rcode.REFUSED, True), (dns.rcode.SERVFAIL, True),
                      (dns.rcode.NXDOMAIN, False), (dns.rcode.NOERROR, False)):
        bare.set_rcode(rcode)
        m = replies.accept_reply(q, wire, bare.to_wire())
        assert (m is not None) == ok, rcode
        assert m is None or replies.cache_ttl(m) == 0


def test_cache_ttl():
    q = dns.message.make_query("www.example.test", "A")
    m = dns.message.from_wire(reply_to(q))
    assert replies.cache_ttl(m) == 60
    m.flags |= dns.flags.TC
    assert replies.cache_ttl(m) == 0           # a partial answer is never cached
    r = dns.message.make_response(q)
    r.set_rcode(dns.rcode.SERVFAIL)
    assert replies.cache_ttl(r) == 0
    r.set_rcode(dns.rcode.NXDOMAIN)
    assert replies.cache_ttl(r) == replies.NEG_TTL_NO_SOA
    r.authority.append(dns.rrset.from_text("example.test.", 900, "IN", "SOA",
                                           "ns.example.test. h.example.test. 1 60 60 60 300"))
    assert replies.cache_ttl(r) == replies.NEG_TTL_MAX


def test_without_client_options_keeps_the_rest():
    q = dns.message.make_query("www.example.test", "A", use_edns=0, want_dnssec=True,
                               options=[dns.edns.CookieOption(b"12345678", b""),
                                        ecs("192.0.2.0")])
    m = dns.message.from_wire(q.to_wire())
    replies.without_client_options(m)
    assert [o.otype for o in m.options] == [dns.edns.OptionType.ECS]
    assert m.ednsflags & dns.flags.DO and m.edns == 0
