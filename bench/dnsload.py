"""A bounded DNS load generator, run inside a container's netns (nsenter --net).

    python -m bench.dnsload NAME [--server 127.0.0.11] [--seconds 3] [--max 200000]
                            [--window 16]

Keeps `window` queries for NAME (type A) in flight on one UDP socket, for at
most `seconds` and at most `max` queries; prints JSON: qps, p50_ms, p99_ms,
ok, lost, bad (replies that are errors or empty). A query with no answer within 1 s counts as lost. Same program for
every peer, so the client's own cost is the same on both sides.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time


def run(name: str, server: str, seconds: float, limit: int, window: int) -> dict:
    """Run the load; return the summary."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split("."))
    # header minus id (RD set, one question) + the question; the id is prepended per query
    body = struct.pack("!HHHHH", 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((server, 53))
    s.settimeout(1.0)
    sent_at = [0.0] * 65536
    lat: list[float] = []
    lost = sent = bad = 0
    perf = time.perf_counter
    qid = 0
    start = perf()
    end = start + seconds

    def send_one() -> None:
        nonlocal qid, sent
        qid = (qid + 1) & 0xFFFF
        sent_at[qid] = perf()
        s.send(struct.pack("!H", qid) + body)
        sent += 1

    for _ in range(window):
        send_one()
    outstanding = window
    while outstanding:
        try:
            data = s.recv(4096)
        except socket.timeout:
            lost += outstanding
            outstanding = 0
            if perf() < end and sent < limit:
                for _ in range(window):
                    send_one()
                outstanding = window
            continue
        now = perf()
        rid = (data[0] << 8) | data[1]
        lat.append(now - sent_at[rid])
        if len(data) < 12 or data[3] & 0x0F or data[6:8] == b"\0\0":
            bad += 1    # an error or an empty answer: not what was asked
        outstanding -= 1
        if now < end and sent < limit:
            send_one()
            outstanding += 1
    elapsed = perf() - start
    lat.sort()

    def pct(p: float):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 4) if lat else None

    return {"qps": round(len(lat) / elapsed, 1), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "ok": len(lat), "lost": lost, "bad": bad, "seconds": round(elapsed, 3), "window": window}


def main() -> None:
    """Parse arguments, run, print JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--server", default="127.0.0.11")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--max", type=int, default=200000)
    ap.add_argument("--window", type=int, default=16)
    a = ap.parse_args()
    print(json.dumps(run(a.name, a.server, a.seconds, a.max, a.window)))


if __name__ == "__main__":
    main()
