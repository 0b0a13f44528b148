"""DNS wire handling for the embedded resolver: parse, decide, build answers.

The hot path is not here: a resolver first looks the raw query (minus its
2-byte id) up in its view's cache of ready answers and only falls back to
`decide()` on a miss. `decide()` parses with dnspython (robust against
malformed input, unlike dnslib) and returns a `Local` answer (cacheable
bytes, or a list of rotations for round robin), `FORWARD`, or None (drop).
Every answer here is returned WITHOUT its first two bytes (the id), so that
the caller patches the id with one concatenation.
"""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdata
import dns.rrset

from .names import View

# dnspython loads rdata classes lazily and caches the outcome keyed by
# (class, type), with a fallback from (IN, T) to (ANY, T). A single packet
# carrying, say, an AAAA record of class ANY made it cache GenericRdata under
# (ANY, AAAA), and from then on every IN AAAA in the process parsed as generic
# data. Loading every type up front, with dynamic loading off, closes that:
# no packet can trigger an import or poison the table.
dns.rdata.load_all_types(disable_dynamic_load=True)

FORWARD = object()        # not ours: send upstream
MAX_ROTATIONS = 16        # round robin: at most this many precomputed orders
UDP_DEFAULT = 512         # answer size limit without EDNS
QR = 0x80                 # in the third byte of the header


class Local:
    """A local answer: `wire` is bytes (or a list of rotations) minus the id."""

    __slots__ = ("wire", "cacheable")

    def __init__(self, wire, cacheable: bool = True):
        self.wire = wire
        self.cacheable = cacheable


def error_reply(data: bytes, rcode: int) -> bytes | None:
    """A bare header-only reply (FORMERR, SERVFAIL...) to a raw query, minus the id.

    None when the packet is not worth answering: shorter than a header or a
    response itself (answering responses could make two resolvers loop)."""
    if len(data) < 12 or data[2] & QR:
        return None
    flags2 = (data[2] & 0x79) | QR        # keep opcode and RD, set QR
    return bytes((flags2, rcode & 0x0F)) + b"\x00" * 8


def parse(data: bytes) -> dns.message.Message | None:
    """Parse a query with dnspython; None when it is malformed in any way."""
    try:
        return dns.message.from_wire(data, ignore_trailing=False)
    except Exception:  # dnspython raises many types on hostile input; all mean FORMERR
        return None


def max_udp_size(q: dns.message.Message) -> int:
    """The largest UDP answer the client accepts (512 without EDNS)."""
    if q.edns >= 0:
        return max(UDP_DEFAULT, min(q.payload, 4096))
    return UDP_DEFAULT


def _render(q: dns.message.Message, rcode: int, rrsets: list, max_size: int) -> bytes:
    r = dns.message.make_response(q, recursion_available=True)
    r.flags |= dns.flags.AA
    r.set_rcode(rcode)
    r.answer = rrsets
    try:
        wire = r.to_wire(max_size=max_size)
    except dns.exception.TooBig:
        r.answer = []
        r.flags |= dns.flags.TC
        wire = r.to_wire(max_size=max_size)
    return wire[2:]


def rcode_reply(q: dns.message.Message, rcode: int) -> bytes:
    """A reply with only the question and an rcode, minus the id."""
    r = dns.message.make_response(q, recursion_available=True)
    r.set_rcode(rcode)
    return r.to_wire()[2:]


_ADDR_CLASSES = {dns.rdatatype.A: dns.rdtypes.IN.A.A, dns.rdatatype.AAAA: dns.rdtypes.IN.AAAA.AAAA}


def _rrset(name: dns.name.Name, ttl: int, rdtype: int, addrs) -> dns.rrset.RRset:
    """An A/AAAA rrset built from the rdata classes directly (no text parsing)."""
    cls = _ADDR_CLASSES[rdtype]
    return dns.rrset.from_rdata_list(
        name, ttl, [cls(dns.rdataclass.IN, rdtype, a) for a in addrs])


def _addresses(q, name: dns.name.Name, rdtype: int, addrs: tuple, ttl: int,
               max_size: int):
    if not addrs:
        return _render(q, dns.rcode.NOERROR, [], max_size)     # NODATA
    n = len(addrs)
    if n == 1:
        rr = _rrset(name, ttl, rdtype, addrs)
        return _render(q, dns.rcode.NOERROR, [rr], max_size)
    out = []
    for i in range(min(n, MAX_ROTATIONS)):
        k = i * n // min(n, MAX_ROTATIONS)
        order = list(addrs[k:] + addrs[:k])
        # dnspython's rrset is a set; build the section in our order by hand.
        rrs = [_rrset(name, ttl, rdtype, [a]) for a in order]
        out.append(_render_ordered(q, rrs, max_size))
    return out


def _render_ordered(q, rrs: list, max_size: int) -> bytes:
    """Render one A/AAAA record per rrset so the order on the wire is ours."""
    return _render(q, dns.rcode.NOERROR, rrs, max_size)


def decide(data: bytes, q: dns.message.Message, view: View, ttl: int, max_size: int):
    """What to do with a parsed query: Local(answer), FORWARD, or None (drop)."""
    if q.flags & dns.flags.QR:
        return None
    if q.opcode() != dns.opcode.QUERY:
        return Local(rcode_reply(q, dns.rcode.NOTIMP))
    if len(q.question) != 1 or q.answer or q.authority:
        return Local(rcode_reply(q, dns.rcode.FORMERR))
    qrr = q.question[0]
    if qrr.rdclass != dns.rdataclass.IN:
        return Local(rcode_reply(q, dns.rcode.REFUSED))
    key = qrr.name.to_text(omit_final_dot=True).lower()
    rdtype = qrr.rdtype
    if rdtype == dns.rdatatype.PTR:
        target = view.ptr.get(key)
        if target is not None:
            rr = dns.rrset.from_rdata_list(qrr.name, ttl, [dns.rdtypes.ANY.PTR.PTR(
                dns.rdataclass.IN, dns.rdatatype.PTR, dns.name.from_text(target + "."))])
            return Local(_render(q, dns.rcode.NOERROR, [rr], max_size))
    rec = view.names.get(key)
    if rec is not None:
        if rdtype == dns.rdatatype.A:
            return Local(_addresses(q, qrr.name, rdtype, rec[0], ttl, max_size))
        if rdtype == dns.rdatatype.AAAA:
            return Local(_addresses(q, qrr.name, rdtype, rec[1], ttl, max_size))
        return Local(_render(q, dns.rcode.NOERROR, [], max_size))  # NODATA for other types
    if view.internal_only:
        # Docker: a container only on internal networks gets no outside resolution.
        return Local(rcode_reply(q, dns.rcode.SERVFAIL), cacheable=False)
    return FORWARD


def truncated(q: dns.message.Message) -> bytes:
    """A TC reply with the question only (the client retries over TCP), minus the id."""
    r = dns.message.make_response(q, recursion_available=True)
    r.flags |= dns.flags.TC
    return r.to_wire()[2:]
