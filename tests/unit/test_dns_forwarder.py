"""Forwarder against loopback upstreams: failover, stagger, TCP on TC, cache with TTLs."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import dns.flags
import dns.message
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
            r.answer.append(dns.rrset.from_rdata_list(q.question[0].name, 60, [A(IN, A_T, "192.0.2.9")]))
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
