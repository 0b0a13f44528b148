"""The benchmark's upstream DNS server: a local stub, never the real internet.

    python -m bench.dnsstub [--addr 0.0.0.0] [--port 53]

Run inside a bench host netns. Every A question for a name under
`outside.bench` gets 203.0.113.7 with a 60 s TTL; anything else gets
NXDOMAIN. UDP only (the load generator's queries and answers are small).
Answers are built with dnspython, so the stub costs what a real upstream's
parse/answer costs, the same for every peer that forwards to it.
"""

from __future__ import annotations

import argparse
import socket

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

ADDRESS = "203.0.113.7"
ZONE = "outside.bench."


def answer(data: bytes) -> bytes | None:
    """The reply to one query (None for what is not a query)."""
    try:
        q = dns.message.from_wire(data)
    except Exception:
        return None
    r = dns.message.make_response(q)
    for question in q.question:
        name = question.name.to_text()
        if name.endswith(ZONE) and question.rdtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", ADDRESS))
        else:
            r.set_rcode(dns.rcode.NXDOMAIN)
    return r.to_wire()


def main() -> None:
    """Serve until killed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=53)
    args = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((args.addr, args.port))
    while True:
        data, peer = s.recvfrom(4096)
        reply = answer(data)
        if reply is not None:
            s.sendto(reply, peer)


if __name__ == "__main__":
    main()
