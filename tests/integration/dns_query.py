"""DNS client for tests, run inside a container's netns with nsenter.

    python dns_query.py query NAME TYPE [--tcp] [--edns] [--server IP]
        -> JSON {"rcode", "tc", "answers": [text...], "ttls": [seconds...], "ms"}
    python dns_query.py rr NAME N          -> JSON list of the first A of N queries
    python dns_query.py hostile            -> JSON {sent, replies, formerr}
    python dns_query.py flood SECONDS      -> JSON {sent}  (bounded by time)
    python dns_query.py latency NAME N     -> JSON {ok, lost, p50_ms, p99_ms}
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time

import dns.message
import dns.query
import dns.rcode

SERVER = "127.0.0.11"


def query(name: str, rdtype: str, tcp: bool, edns: bool, server: str) -> dict:
    """One query with dnspython; the answer as JSON-able data."""
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
    t0 = time.perf_counter()
    r = (dns.query.tcp if tcp else dns.query.udp)(q, server, timeout=5)
    ms = (time.perf_counter() - t0) * 1000
    ans = [rd.to_text() for rr in r.answer for rd in rr]
    return {"rcode": dns.rcode.to_text(r.rcode()), "tc": bool(r.flags & 0x200),
            "answers": ans, "ttls": [rr.ttl for rr in r.answer], "ms": ms}


def hostile() -> dict:
    """Send malformed and hostile packets; count the replies and FORMERRs."""
    hdr = lambda qd, an=0: struct.pack("!HHHHHH", 0x1234, 0x0100, qd, an, 0, 0)  # noqa: E731
    q1 = b"\x02c1\x00\x00\x01\x00\x01"
    pkts = [b"", b"\x00", b"\x12\x34\x01", hdr(1)[:11],           # empty, short
            hdr(1) + b"\xc0\x0c\x00\x01\x00\x01",                   # compression loop
            hdr(1) + b"\x00\x00\x01\x00\x01",                       # zero-length name (root)
            hdr(1) + b"\x00",                                       # truncated question
            hdr(1) + b"\x02c1\x00\x00\x01\x00\x03",                 # class CHAOS
            hdr(1) + b"\x02c1\x00\x00\x01\x12\x34",                 # unknown class
            hdr(40) + q1 * 40,                                      # many questions
            hdr(1) + q1 + b"junk",                                  # trailing junk
            hdr(1) + b"\x3f" + b"a" * 63 + b"\x3f" * 300,           # label overrun
            hdr(1) + b"\x40abc\x00\x00\x01\x00\x01",                # reserved label type
            struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + q1,     # a response
            hdr(1) + q1 + b"\x00" * 3900,                           # oversized
            hdr(1) + os.urandom(5000)]                              # bigger than recv
    pkts += [os.urandom(n) for n in range(1, 400, 3)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.1)
    replies = formerr = 0
    for p in pkts:
        s.sendto(p, (SERVER, 53))
        try:
            while True:
                r = s.recv(65535)
                replies += 1
                if len(r) >= 4 and r[3] & 0x0F == 1:
                    formerr += 1
                s.settimeout(0.02)
        except socket.timeout:
            s.settimeout(0.1)
    # The same hostile bytes over TCP must not hurt either.
    for p in pkts[:16]:
        try:
            with socket.create_connection((SERVER, 53), timeout=1) as t:
                t.sendall(struct.pack("!H", len(p) & 0xFFFF) + p)
                t.recv(65535)
        except OSError:
            pass
    return {"sent": len(pkts), "replies": replies, "formerr": formerr}


def flood(seconds: float) -> dict:
    """Send queries as fast as possible for a bounded time, never reading."""
    q = dns.message.make_query("flood.outside.test", "A").to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    end, sent = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for _ in range(100):
            try:
                s.sendto(q, (SERVER, 53))
                sent += 1
            except OSError:
                pass
    return {"sent": sent}


def latency(name: str, n: int) -> dict:
    """n sequential queries; p50/p99 in ms and how many got no answer in 2 s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    q = bytearray(dns.message.make_query(name, "A").to_wire())
    lat, lost = [], 0
    for i in range(n):
        q[0:2] = struct.pack("!H", i)
        t0 = time.perf_counter()
        s.sendto(q, (SERVER, 53))
        try:
            while s.recv(4096)[:2] != q[:2]:
                pass
            lat.append((time.perf_counter() - t0) * 1000)
        except socket.timeout:
            lost += 1
        time.sleep(0.01)
    lat.sort()
    pick = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None  # noqa: E731
    return {"ok": len(lat), "lost": lost, "p50_ms": pick(0.5), "p99_ms": pick(0.99)}


def main(argv: list[str]) -> None:
    """Dispatch on the first argument; print JSON."""
    cmd = argv[0]
    if cmd == "query":
        server = argv[argv.index("--server") + 1] if "--server" in argv else SERVER
        out = query(argv[1], argv[2], "--tcp" in argv, "--edns" in argv, server)
    elif cmd == "rr":
        out = [query(argv[1], "A", False, False, SERVER)["answers"][0]
               for _ in range(int(argv[2]))]
    elif cmd == "hostile":
        out = hostile()
    elif cmd == "flood":
        out = flood(float(argv[1]))
    else:
        out = latency(argv[1], int(argv[2]))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
