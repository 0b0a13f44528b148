"""Embedded DNS logic without the kernel: name table scoping, answers, edge cases."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype

from boxnet.dns import wire
from boxnet.dns.names import reverse_name
from boxnet.dns.upstreams import host_upstreams, upstream_addr
from dnsfakes import table

C1 = "a" * 64


def ask(view, name, rdtype="A", ttl=5, **kw):
    """decide() on a made query; returns (outcome, parsed answer or None)."""
    q = dns.message.make_query(name, rdtype, **kw)
    data = q.to_wire()
    res = wire.decide(data, q, view, ttl, wire.max_udp_size(q))
    if res is None or res is wire.FORWARD:
        return res, None
    w = res.wire[0] if isinstance(res.wire, list) else res.wire
    return res, dns.message.from_wire(data[:2] + w)


def addrs(msg):
    return [rd.to_text() for rr in msg.answer for rd in rr]


def test_names_only_from_shared_networks():
    t = table()
    v = t.view_for(C1)
    for name in ("c1", "web", "c1.n1", "C1.N1.", "aaaaaaaaaaaa", "c2"):
        res, m = ask(v, name)
        assert m is not None and m.rcode() == dns.rcode.NOERROR and addrs(m), name
        assert m.flags & dns.flags.AA and m.answer[0].ttl == 5
    assert ask(v, "other")[0] is wire.FORWARD           # n2's name: not ours
    assert ask(v, "legacy")[0] is wire.FORWARD          # default bridge: no names
    assert ask(t.view_for("c" * 64), "c1")[0] is wire.FORWARD


def test_round_robin_rotations():
    v = table().view_for(C1)
    res, m = ask(v, "pool")
    assert isinstance(res.wire, list) and len(res.wire) == 2
    firsts = {addrs(dns.message.from_wire(b"\0\0" + w))[0] for w in res.wire}
    assert firsts == {"10.1.0.2", "10.1.0.3"}


def test_aaaa_ptr_nodata():
    v = table().view_for(C1)
    assert addrs(ask(v, "c1", "AAAA")[1]) == ["fd00::2"]
    _, m = ask(v, "c2", "AAAA")
    assert m.rcode() == dns.rcode.NOERROR and not m.answer      # NODATA, not forwarded
    assert addrs(ask(v, reverse_name("10.1.0.3"), "PTR")[1]) == ["c2.n1."]
    assert addrs(ask(v, reverse_name("fd00::2"), "PTR")[1]) == ["c1.n1."]
    assert ask(v, reverse_name("10.2.0.2"), "PTR")[0] is wire.FORWARD
    _, m = ask(v, "c1", "MX")
    assert m.rcode() == dns.rcode.NOERROR and not m.answer


def test_internal_only_is_not_forwarded():
    v = table().view_for("d" * 64)
    assert addrs(ask(v, "inner")[1]) == ["10.3.0.2"]
    _, m = ask(v, "example.com")
    assert m.rcode() == dns.rcode.SERVFAIL


def test_leaving_endpoint_excluded():
    t = table(exclude={"b" * 64 + "-N1"})
    v = t.view_for(C1)
    assert ask(v, "c2")[0] is wire.FORWARD
    assert addrs(ask(v, "pool")[1]) == ["10.1.0.2"]


def test_bad_queries():
    v = table().view_for(C1)
    q = dns.message.make_query("c1", "A")
    q.set_opcode(dns.opcode.NOTIFY)
    res = wire.decide(q.to_wire(), q, v, 5, 512)
    assert dns.message.from_wire(b"\0\0" + res.wire).rcode() == dns.rcode.NOTIMP
    _, m = ask(v, "c1", rdclass="CH")
    assert m.rcode() == dns.rcode.REFUSED
    assert wire.parse(b"\x00\x01\x01") is None
    assert wire.error_reply(b"\x12\x34\x01\x00" + b"\0" * 8, 1)[1] & 0x0F == 1
    assert wire.error_reply(b"\x12\x34\x81\x80" + b"\0" * 8, 1) is None   # a response
    assert wire.error_reply(b"\x12", 1) is None


def test_odd_class_record_cannot_poison_rdata_types():
    """A query carrying an AAAA record of class ANY once made dnspython cache
    GenericRdata for every AAAA in the process (CI caught it after the fuzz
    tests); later AAAA answers must still parse as addresses."""
    q = dns.message.make_query("c1", "A")
    w = bytearray(q.to_wire())
    w[11] = 1                                                  # ARCOUNT
    w += b"\0" + (28).to_bytes(2, "big") + (255).to_bytes(2, "big") + bytes(4) \
        + (16).to_bytes(2, "big") + bytes(16)
    wire.parse(bytes(w))
    v = table().view_for(C1)
    assert addrs(ask(v, "c1", "AAAA")[1]) == ["fd00::2"]


def test_big_answer_is_truncated_for_udp():
    nets, eps, conts = __import__("dnsfakes").world()
    from boxnet.dns.names import build_table
    from boxnet.model import Endpoint
    for i in range(60):
        eps.append(Endpoint(id=f"x{i}", network_id="N1", container_id="b" * 64,
                            ipv4=f"10.1.1.{i}/16", dns_names=["many"]))
    v = build_table(nets, eps, conts).view_for(C1)
    _, m = ask(v, "many")
    assert m.flags & dns.flags.TC and not m.answer
    _, m = ask(v, "many", use_edns=0, payload=4096)
    assert len(addrs(m)) == 60


def test_upstreams(tmp_path):
    host = tmp_path / "resolv.conf"
    real = tmp_path / "real.conf"
    host.write_text("# x\nnameserver 127.0.0.53\noptions edns0\n")
    real.write_text("nameserver 192.0.2.1\nnameserver bogus\nnameserver 2001:db8::1\n")
    assert host_upstreams(str(host), str(real)) == ["192.0.2.1", "2001:db8::1"]
    host.write_text("nameserver 127.0.0.1\n")
    assert host_upstreams(str(host), str(real)) == ["127.0.0.1"]   # loopback kept
    assert upstream_addr("10.0.0.1") == ("10.0.0.1", 53)
    assert upstream_addr("[fd00::1]:5353") == ("fd00::1", 5353)
    assert upstream_addr("fd00::1") == ("fd00::1", 53)
