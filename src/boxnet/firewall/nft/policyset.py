"""Pure rendering of the least-privilege policy in the ``inet boxnet`` table.

Four fixed rules in the ``allowlist`` chain, jumped to from ``forward`` right
after ``ct state established,related accept`` (so only a connection's first
packet is judged, and replies of an allowed connection always pass): a
packet whose destination is in a *gate* set of ingress (or whose source is
in one of egress) is dropped unless its ``saddr . daddr . l4proto . dport``
is in one of the four allow sets of that direction (one port, every port,
a port range, a CIDR peer: policy/compile.py says why four).  Every container,
replica and rule is an element, never a rule, so a packet costs the same
few hash/pipapo lookups whatever the number of policies.

Traffic between a container and the host itself never reaches ``forward``:
``polhostin`` (from the input hook) judges a container's connection to the
host's own addresses by its egress sets, ``polhostout`` (from a filter chain
on the output hook) the host's connection to a container by its ingress sets.

Switched traffic inside one bridge reaches this chain through br_netfilter
(``bridge-nf-call-iptables``, which the manager turns on in its namespace
while a policy exists, as dockerd does for its bridges): the bridge family
of this kernel has no conntrack, and a stateless policy there could not
tell a reply from a new connection.

The set kinds are those of policy/compile.py (``Elements``); the firewall
layer does not import it, it gets plain tuples.
"""

from __future__ import annotations

T = "inet boxnet"
_A = {4: "ipv4_addr", 6: "ipv6_addr"}
# kind -> set name per family (firewall sets of policy/compile.py's Elements)
NAMES = {"gate_in": "pgatein", "gate_eg": "pgateeg", "port_in": "pportin",
         "port_eg": "pporteg", "any_in": "panyin", "any_eg": "panyeg",
         "range_in": "prangein", "range_eg": "prangeeg", "cidr_in": "pcidrin",
         "cidr_eg": "pcidreg"}

POLICY_SETS = []
for _f, _a in _A.items():
    _pair = f"{_a} . {_a} . inet_proto"
    for _d in ("in", "eg"):
        POLICY_SETS += [
            (T, f"pgate{_d}{_f}", f"type {_a};"),
            # hash sets: deleting from them is cheap (see policy/compile.py)
            (T, f"pport{_d}{_f}", f"type {_pair} . inet_service;"),
            (T, f"pany{_d}{_f}", f"type {_pair};"),
            (T, f"prange{_d}{_f}", f"type {_pair} . inet_service; flags interval;"),
            (T, f"pcidr{_d}{_f}", f"type {_pair} . inet_service; flags interval;"),
        ]

_IP = {4: "ip", 6: "ip6"}


def _rule(f: int, d: str) -> str:
    ip = _IP[f]
    pair = f"{ip} saddr . {ip} daddr . meta l4proto"
    full = f"{pair} . th dport"
    side = "daddr" if d == "in" else "saddr"
    return (f"{ip} {side} @pgate{d}{f} {full} != @pport{d}{f} {pair} != @pany{d}{f} "
            f"{full} != @prange{d}{f} {full} != @pcidr{d}{f} jump poldrop")   # log, drop


# IPv6 neighbour discovery (between containers of one bridge through br_netfilter,
# or with the gateway) is not tracked by conntrack (its ct state is never
# "established"): it is what an address needs to work at all, never a connection
# a policy judges (an egress-gated container's solicitation goes to a multicast
# address no rule allows)
_ND = ("icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, "
       "nd-router-advert } return")

POLICY_CHAINS: dict[str, tuple[str | None, list[str]]] = {
    "allowlist": (None, [_ND] + [_rule(f, d) for f in (4, 6) for d in ("in", "eg")]),  # "policy": an nft keyword
    # a container's new connection to one of the host's own addresses (input hook,
    # from a bridge): judged by its egress policy with the same sets
    "polhostin": (None, [_ND] + [_rule(f, "eg") for f in (4, 6)]),
    # the host's own new connection to a container (output hook, into a bridge; a
    # port published on the host's loopback is DNATed before, its source still
    # 127.0.0.1): judged by the container's ingress policy
    "polhostout": (None, [_ND] + [_rule(f, "in") for f in (4, 6)]),
}
# the jumps into them from the input and output hooks (ruleset.py)
HOST_IN_JUMP = "iifname @bridges ct state != { established, related } jump polhostin"
HOST_OUT_JUMP = "oifname @bridges ct state != { established, related } jump polhostout"


def _item(kind: str, el: tuple) -> str:
    if kind.startswith("gate"):
        return el[1]
    _, s, d, proto, lo, hi = el
    if kind.startswith("any"):
        return f"{s} . {d} . {proto}"
    port = str(lo) if lo == hi else f"{lo}-{hi}"
    return f"{s} . {d} . {proto} . {port}"


def policy_elements(sets: dict, verb: str) -> list[str]:
    """``add``/``delete element`` commands for ``sets`` (kind -> elements)."""
    out = []
    for kind, elements in sets.items():
        for fam in (4, 6):
            items = [_item(kind, e) for e in elements if e[0] == fam]
            if items:
                out.append(f"{verb} element {T} {NAMES[kind]}{fam} {{ {', '.join(items)} }}")
    return out
