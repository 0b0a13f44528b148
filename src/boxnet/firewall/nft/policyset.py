"""Pure rendering of the least-privilege policy in the ``inet boxnet`` table.

Four fixed rules in the ``allowlist`` chain, jumped to from ``forward`` right
after ``ct state established,related accept`` (so only a connection's first
packet is judged, and replies of an allowed connection always pass): a
packet whose destination is in a *gate* set of ingress (or whose source is
in one of egress) is dropped unless ``saddr . daddr . l4proto . dport`` is
in the exact or the CIDR allow set of that direction.  Every container,
replica and rule is an element, never a rule, so a packet costs the same
few hash/pipapo lookups whatever the number of policies.

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
_KEY = {4: "ipv4_addr . ipv4_addr . inet_proto . inet_service",
        6: "ipv6_addr . ipv6_addr . inet_proto . inet_service"}
# kind -> set name per family
NAMES = {"gate_in": "pgatein", "gate_eg": "pgateeg", "allow_in": "pallowin",
         "allow_eg": "palloweg", "cidr_in": "pcidrin", "cidr_eg": "pcidreg"}

POLICY_SETS = []
for _f, _a in ((4, "ipv4_addr"), (6, "ipv6_addr")):
    POLICY_SETS += [(T, f"pgatein{_f}", f"type {_a};"), (T, f"pgateeg{_f}", f"type {_a};")]
    POLICY_SETS += [(T, f"{n}{_f}", f"type {_KEY[_f]}; flags interval;")
                    for n in ("pallowin", "palloweg", "pcidrin", "pcidreg")]

_TUPLE = {4: "ip saddr . ip daddr . meta l4proto . th dport",
          6: "ip6 saddr . ip6 daddr . meta l4proto . th dport"}
POLICY_CHAINS: dict[str, tuple[str | None, list[str]]] = {
    "allowlist": (None, [   # ("policy" is an nft keyword)
        f"{ip} {side} @{gate}{f} {_TUPLE[f]} != @{allow}{f} {_TUPLE[f]} != @{cidr}{f} drop"
        for f, ip in ((4, "ip"), (6, "ip6"))
        for side, gate, allow, cidr in (("daddr", "pgatein", "pallowin", "pcidrin"),
                                        ("saddr", "pgateeg", "palloweg", "pcidreg"))
    ]),
}


def _item(kind: str, el: tuple) -> str:
    if kind.startswith("gate"):
        return el[1]
    _, s, d, proto, lo, hi = el
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
