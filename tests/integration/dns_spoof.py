"""Upstream and client for the forwarder's anti-poisoning tests (test_dns_cache.py).

    python dns_spoof.py serve --log FILE --addr IP=NET [--addr IP=NET ...] [--spoof-port N]
    python dns_spoof.py ask NAME [--norec] [--cd] [--do] [--ad]   -> JSON {rcode, answers}

serve (in an Outside netns): one UDP server per --addr. It answers an A query
with NET.<code>, where NET is the server's own /24 prefix (so each upstream
set has its own answer) and code says which of RD, CD, AD, DO and EDNS the
query had (1 + RD + 2 CD + 4 AD + 8 DO + 16 EDNS): each flag variant gets an
answer of its own. For a name that starts with "spoof", before the real
answer (sent 0.3 s later) it sends decoys that all carry the POISON address
for the queried name: from the same IP but port --spoof-port, from the other
--addr IP, with another name in the question, with the name's case changed,
with another type, and a valid copy followed by junk. Every query is logged
as "IP name flagcode", every decoy batch as "decoys IP name N".

ask (in a container's netns): one query to 127.0.0.11 with dnspython.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rrset

POISON = "198.51.100.66"


def flag_code(q: dns.message.Message) -> int:
    """1 + RD + 2 CD + 4 AD + 8 DO + 16 EDNS: which variant of a query this is."""
    return (1 + bool(q.flags & dns.flags.RD) + 2 * bool(q.flags & dns.flags.CD)
            + 4 * bool(q.flags & dns.flags.AD) + 8 * bool(q.ednsflags & dns.flags.DO)
            + 16 * (q.edns >= 0))


def real_answer(q: dns.message.Message, net: str) -> bytes:
    """The genuine answer: NET.code for A, NXDOMAIN-free empty answer for other types."""
    r = dns.message.make_response(q)
    if q.question[0].rdtype == 1:
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A",
                                            f"{net}.{flag_code(q)}"))
    return r.to_wire()


def decoys(q: dns.message.Message) -> list[bytes]:
    """Same-source decoys: right id, wrong question (name, case, type) or junk."""
    qn = q.question[0].name
    out = []
    for name, rdtype in ((dns.name.from_text("evil.outside.test"), "A"),
                         (dns.name.from_text(qn.to_text().swapcase()), "A"), (qn, "AAAA")):
        other = dns.message.make_query(name, rdtype, id=q.id)
        r = dns.message.make_response(other)
        r.flags = dns.message.make_response(q).flags
        r.answer.append(dns.rrset.from_text(qn, 600, "IN", "A", POISON))
        out.append(r.to_wire())
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(qn, 600, "IN", "A", POISON))
    out.append(r.to_wire() + b"\x00junk")
    return out


def poison(q: dns.message.Message) -> bytes:
    """A reply that would be perfect, except that it comes from the wrong source."""
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(q.question[0].name, 600, "IN", "A", POISON))
    return r.to_wire()


def serve(a) -> None:
    """Serve every --addr until killed."""
    log = open(a.log, "a", buffering=1)
    lock = threading.Lock()
    socks = {}
    for spec in a.addr:
        ip, net = spec.split("=")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 53))
        side = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        side.bind((ip, a.spoof_port))
        socks[ip] = (s, side, net)

    def note(line: str) -> None:
        with lock:
            log.write(line + "\n")

    def loop(ip: str) -> None:
        s, side, net = socks[ip]
        while True:
            data, peer = s.recvfrom(4096)
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            name = q.question[0].name.to_text().lower()
            note(f"{ip} {name} {flag_code(q)}")
            if name.startswith("spoof"):
                side.sendto(poison(q), peer)                       # wrong port
                for other_ip, (other, _, _) in socks.items():      # wrong address
                    if other_ip != ip:
                        other.sendto(poison(q), peer)
                batch = decoys(q)
                for d in batch:                                    # wrong question, junk
                    s.sendto(d, peer)
                note(f"decoys {ip} {name} {len(batch) + len(socks)}")
                time.sleep(0.3)
            s.sendto(real_answer(q, net), peer)

    for ip in socks:
        threading.Thread(target=loop, args=(ip,), daemon=True).start()
    note("ready")
    threading.Event().wait()


def ask(a) -> dict:
    """One query to the embedded resolver with the asked flags."""
    flags = 0 if a.norec else dns.flags.RD
    flags |= (dns.flags.CD if a.cd else 0) | (dns.flags.AD if a.ad else 0)
    q = dns.message.make_query(a.name, "A", use_edns=0 if a.do else False,
                               want_dnssec=a.do)
    q.flags = flags
    r = dns.query.udp(q, "127.0.0.11", timeout=5)
    return {"rcode": dns.rcode.to_text(r.rcode()),
            "answers": [rd.to_text() for rr in r.answer for rd in rr]}


def main(argv: list[str]) -> None:
    """Dispatch on the first argument."""
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--log", required=True)
    s.add_argument("--addr", action="append", required=True)
    s.add_argument("--spoof-port", type=int, default=5353)
    k = sub.add_parser("ask")
    k.add_argument("name")
    for flag in ("--norec", "--cd", "--do", "--ad"):
        k.add_argument(flag, action="store_true")
    a = ap.parse_args(argv)
    if a.cmd == "serve":
        serve(a)
    else:
        print(json.dumps(ask(a)))


if __name__ == "__main__":
    main(sys.argv[1:])
