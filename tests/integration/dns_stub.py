"""A stub upstream DNS server for tests, run in an Outside netns.

    python dns_stub.py --log FILE [--addr 0.0.0.0] [--port 53] [--mode answer|silent|refuse]

answer: NAME.outside.test -> A 203.0.113.7 (TTL 60); big.outside.test -> 40
  A records (more than 512 bytes: over UDP without EDNS the answer is sent
  truncated, TC set, so the client must retry over TCP); anything else
  NXDOMAIN with an SOA (TTL 30). Serves UDP and TCP.
silent: reads queries and never answers (a dead upstream).
refuse: answers REFUSED.
Every query is logged as "proto name type" to FILE, one a line.
"""

from __future__ import annotations

import argparse
import socket
import struct
import threading

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rrset


def answer(data: bytes, mode: str, tcp: bool) -> bytes | None:
    """The stub's reply to one query."""
    q = dns.message.from_wire(data)
    r = dns.message.make_response(q)
    if mode == "refuse":
        r.set_rcode(dns.rcode.REFUSED)
        return r.to_wire()
    qr = q.question[0]
    name = qr.name.to_text().lower()
    if name == "big.outside.test.":
        addrs = [f"203.0.113.{i}" for i in range(1, 41)]
        r.answer.append(dns.rrset.from_text_list(qr.name, 60, "IN", "A", addrs))
        if not tcp:
            try:
                return r.to_wire(max_size=512 if q.edns < 0 else q.payload)
            except dns.exception.TooBig:
                r.answer = []
                r.flags |= dns.flags.TC
        return r.to_wire()
    if name.endswith(".outside.test.") and qr.rdtype == 1:
        r.answer.append(dns.rrset.from_text(qr.name, 60, "IN", "A", "203.0.113.7"))
    elif not name.endswith(".outside.test."):
        r.set_rcode(dns.rcode.NXDOMAIN)
        r.authority.append(dns.rrset.from_text("outside.test.", 30, "IN", "SOA",
                                               "ns.outside.test. h.outside.test. 1 60 60 60 30"))
    return r.to_wire()


def main() -> None:
    """Serve until killed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--addr", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--mode", default="answer", choices=["answer", "silent", "refuse"])
    a = ap.parse_args()
    log = open(a.log, "a", buffering=1)
    lock = threading.Lock()

    def note(proto: str, data: bytes) -> None:
        try:
            q = dns.message.from_wire(data)
            with lock:
                log.write(f"{proto} {q.question[0].name.to_text().lower()} "
                          f"{q.question[0].rdtype}\n")
        except Exception:
            pass

    def tcp_loop(srv: socket.socket) -> None:
        while True:
            conn, _ = srv.accept()
            with conn:
                try:
                    n = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))[0]
                    data = conn.recv(n, socket.MSG_WAITALL)
                    note("tcp", data)
                    out = answer(data, a.mode, True) if a.mode != "silent" else None
                    if out:
                        conn.sendall(struct.pack("!H", len(out)) + out)
                except Exception:
                    pass

    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET   # --addr fd00::2 serves IPv6
    tsrv = socket.socket(fam, socket.SOCK_STREAM)
    tsrv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tsrv.bind((a.addr, a.port))
    tsrv.listen(16)
    threading.Thread(target=tcp_loop, args=(tsrv,), daemon=True).start()
    usrv = socket.socket(fam, socket.SOCK_DGRAM)
    usrv.bind((a.addr, a.port))
    log.write("ready\n")
    while True:
        data, addr = usrv.recvfrom(4096)
        note("udp", data)
        if a.mode == "silent":
            continue
        try:
            usrv.sendto(answer(data, a.mode, False), addr)
        except Exception:
            pass


if __name__ == "__main__":
    main()
