"""flows/table.py: conntrack events become named flows; a published port's
flow names the container that answered; a destroy closes the flow with its
counters; flows of no container are left out."""

from __future__ import annotations

from boxnet.flows.table import FlowTable, Peer, matches
from boxnet.kernel.conntrack import CtEvent

NAMES = {"10.0.0.2": ("app", "web", "front"), "10.0.0.3": ("db", "db", "front")}


def namer(ip):
    n = NAMES.get(ip)
    return None if n is None else Peer(ip=ip, container=n[0], service=n[1], network=n[2])


def ev(kind, src, dst, dport, rsrc=None, rsport=None, **kw):
    return CtEvent(kind=kind, id=7, proto="tcp", src=src, dst=dst, sport=40000, dport=dport,
                   reply_src=rsrc or dst, reply_sport=rsport or dport, **kw)


def test_open_then_closed_with_counters():
    t = FlowTable(namer, clock=lambda: 100.0)
    f = t.apply(ev("new", "10.0.0.2", "10.0.0.3", 5432))
    assert (f.src.container, f.dst.container, f.dst.service, f.state) == ("app", "db", "db", "open")
    assert f.start == 100.0 and f.verdict == "accepted"
    t.refresh([ev("open", "10.0.0.2", "10.0.0.3", 5432, packets_orig=3, bytes_orig=300,
                  packets_reply=2, bytes_reply=120)])
    assert (t.open[7].bytes_out, t.open[7].packets_in) == (300, 2)
    f = t.apply(ev("destroy", "10.0.0.2", "10.0.0.3", 5432, packets_orig=5, bytes_orig=500,
                   packets_reply=4, bytes_reply=400, stop_ns=101_500_000_000))
    assert f.state == "closed" and f.end == 101.5 and f.bytes_in == 400 and not t.open
    assert t.snapshot() == [f]


def test_published_port_names_the_container_behind():
    t = FlowTable(namer)
    f = t.apply(ev("new", "192.168.9.9", "192.168.9.1", 8080, rsrc="10.0.0.3", rsport=80))
    assert f.src.container == "" and f.dst.container == "db" and f.dst.port == 80
    assert f.dst_addr == "192.168.9.1:8080"


def test_no_container_no_flow_and_filters():
    t = FlowTable(namer)
    assert t.apply(ev("new", "192.168.9.9", "192.168.9.1", 22)) is None
    f = t.apply(ev("new", "10.0.0.2", "1.2.3.4", 443))
    assert matches(f, network="front") and matches(f, container="app")
    assert not matches(f, container="db") and not matches(f, network="back")


def test_drop_verdict_and_retransmission():
    from boxnet.kernel.nflog import Drop, parse_packet
    pkt = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 3]) + \
        (40000).to_bytes(2, "big") + (5432).to_bytes(2, "big")
    assert parse_packet(pkt) == ("tcp", "10.0.0.2", "10.0.0.3", 40000, 5432)
    t = FlowTable(namer)
    d = Drop("boxnet-policy", *parse_packet(pkt))
    f = t.apply(ev("new", "10.0.0.2", "10.0.0.3", 80)) and t.drop(d)
    assert f.verdict == "dropped by policy" and f.state == "dropped" and f.packets_out == 1
    assert t.drop(d) is f and f.packets_out == 2
    assert t.drop(Drop("boxnet-isolation", "udp", "9.9.9.9", "8.8.8.8", 1, 2)) is None
