"""What the forwarder accepts from an upstream and how it keys its cache (pure, no I/O).

The forwarder's answer cache is shared by every container whose upstream set
is the same, so a cached answer must only ever be served for a query that
would have produced the same answer:

- `cache_key` holds everything in a query that changes the answer: the
  upstream set (a container with --dns X never shares entries with one on the
  host's resolvers), the name (case folded: DNS names are case-insensitive),
  type and class, the RD, AD and CD header bits, the EDNS version and DO bit,
  and the EDNS options except the per-client ones (COOKIE, PADDING), so an
  ECS (client subnet) query never shares an entry with a plain one.
- `accept_reply` decides whether an upstream datagram answers OUR query: same
  id, QR set, opcode QUERY, exactly one question, byte-identical to ours
  (name with the client's case, so a client's 0x20 randomisation protects the
  forwarder hop too; type; class), and parseable as a whole. A FORMERR,
  SERVFAIL, NOTIMP or REFUSED reply may come without the question (RFC 1035
  allows it): it only ever counts as a failure, never cached. The source
  address and port are checked by the kernel: the forwarder's UDP socket is
  connected to the upstream, so datagrams from anywhere else never reach it.
  Anything else is ignored and the real answer is still awaited: an off-path
  spoofer must guess the id, the random source port and the question.
- `cache_ttl` is how long an accepted answer may be cached (0: not at all;
  truncated answers and server failures are never cached).
"""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype

MAX_TTL = 3600
NEG_TTL_MAX = 30          # "negative answers too, briefly"
NEG_TTL_NO_SOA = 5
# Header bits of a query that change the answer: RD (a referral instead of an
# answer), AD (whether AD may be set in the answer, RFC 6840), CD (DNSSEC
# validation off at the upstream: bogus data may come back).
KEY_FLAGS = dns.flags.RD | dns.flags.AD | dns.flags.CD
# EDNS options that belong to one client, not to the question: a COOKIE is
# echoed per client (RFC 7873), PADDING is only length hiding (RFC 7830).
CLIENT_OPTIONS = frozenset({dns.edns.OptionType.COOKIE, dns.edns.OptionType.PADDING})
QR = 0x80
# Error rcodes an upstream may send without the question (never cached).
FAILURES = frozenset({dns.rcode.FORMERR, dns.rcode.SERVFAIL, dns.rcode.NOTIMP,
                      dns.rcode.REFUSED})


def cache_key(upstreams: tuple, q: dns.message.Message) -> tuple:
    """(upstreams, name, type, class, RD|AD|CD, EDNS version, DO, other EDNS options).

    Computed once per forwarded query; the common case (no options) costs no
    option encoding."""
    qr = q.question[0]
    opts = ()
    if q.options:
        opts = tuple(sorted((int(o.otype), o.to_wire()) for o in q.options
                            if o.otype not in CLIENT_OPTIONS))
    return (upstreams, qr.name.to_text().lower(), qr.rdtype, qr.rdclass,
            q.flags & KEY_FLAGS, q.edns, bool(q.ednsflags & dns.flags.DO), opts)


def accept_reply(q: dns.message.Message, query: bytes, resp: bytes) -> dns.message.Message | None:
    """The parsed upstream reply when it answers `query` (as sent, with our id), else None."""
    if len(resp) < 12 or resp[:2] != query[:2] or not resp[2] & QR:
        return None
    if (resp[2] >> 3) & 0x0F != dns.opcode.QUERY:
        return None
    if resp[4:6] != b"\x00\x01":
        # RFC 1035 lets a server drop the question from an error reply. Such a
        # refusal still counts (so the next upstream is asked at once), but it
        # can only ever be a failure: never cached, never an answer.
        if resp[4:6] != b"\x00\x00" or resp[3] & 0x0F not in FAILURES:
            return None
        try:
            return dns.message.from_wire(resp)
        except Exception:
            return None
    try:
        m = dns.message.from_wire(resp)
    except Exception:  # dnspython raises many types on junk: all mean "not an answer"
        return None
    mine, theirs = q.question[0], m.question[0]
    # Name labels compare as bytes: exact case (dnspython's == folds case).
    if (theirs.name.labels != mine.name.labels or theirs.rdtype != mine.rdtype
            or theirs.rdclass != mine.rdclass):
        return None
    return m


def cache_ttl(m: dns.message.Message) -> float:
    """Seconds an accepted answer may be cached: its lowest TTL (negative: the SOA's,
    briefly); 0 for truncated answers and errors other than NXDOMAIN."""
    if m.flags & dns.flags.TC:
        return 0   # a partial answer must never stand for the full one
    rc = m.rcode()
    if rc == dns.rcode.NOERROR and m.answer:
        return min(min(rr.ttl for rr in m.answer), MAX_TTL)
    if rc in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        soa = [rr for rr in m.authority if rr.rdtype == dns.rdatatype.SOA and len(rr)]
        ttl = min(soa[0].ttl, soa[0][0].minimum) if soa else NEG_TTL_NO_SOA
        return min(ttl, NEG_TTL_MAX)
    return 0   # SERVFAIL, REFUSED and friends


def without_client_options(m: dns.message.Message) -> None:
    """Drop the per-client EDNS options (COOKIE, PADDING) of a cached answer before it
    is served to another client: another client's server cookie is not theirs."""
    if m.edns >= 0 and any(o.otype in CLIENT_OPTIONS for o in m.options):
        m.use_edns(m.edns, m.ednsflags, m.payload,
                   options=[o for o in m.options if o.otype not in CLIENT_OPTIONS])
