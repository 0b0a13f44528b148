"""Pure rendering of the least-privilege policy in the ``inet boxnet`` table.

Dispatch by endpoint: the ``allowlist`` chain, jumped to from ``forward``
right after ``ct state established,related accept`` (so only a connection's
first packet is judged, and replies of an allowed connection always pass),
looks the destination up in the ingress verdict map ``pvin4``/``pvin6`` and
the source in the egress map ``pveg4``/``pveg6``.  A gated address maps to
``jump`` its policy's chain: that chain's rules (``ip saddr @<group> meta
l4proto tcp th dport 5432 return``, CIDR and subnet rules) ``return`` an
allowed packet to the next lookup, and its last rule jumps to ``poldrop``
(logged for flows, dropped).  A packet costs one map lookup per direction
plus its own endpoint's rules: never the number of policies on the host.

Peers named by service or container are *group* sets of member addresses
(one per family), kept by membership: a replica joining a service adds one
element to its group, whatever the number of policies naming it.  What a
policy means, and how the groups, chains and map elements are computed, is
policy/plan.py's; the firewall layer does not import it, it gets a *change*
(a dict of plain tuples, policy/plan.py ``Planner.update``) and renders it.

Traffic between a container and the host itself never reaches ``forward``:
``polhostin`` (from the input hook) judges a container's connection to the
host's own addresses by its egress map, ``polhostout`` (from a filter chain
on the output hook) the host's connection to a container by its ingress map.

Switched traffic inside one bridge reaches this chain through br_netfilter
(``bridge-nf-call-iptables``, which the manager turns on in its namespace
while a policy exists, as dockerd does for its bridges): the bridge family
of this kernel has no conntrack, and a stateless policy there could not
tell a reply from a new connection.
"""

from __future__ import annotations

T = "inet boxnet"
_A = {4: "ipv4_addr", 6: "ipv6_addr"}
_IP = {4: "ip", 6: "ip6"}

# the verdict maps: gated address -> jump its policy chain
POLICY_MAPS = [(f"pv{d}{f}", f"type {a} : verdict;") for d in ("in", "eg") for f, a in _A.items()]
VMAPS = [name for name, _ in POLICY_MAPS]

# IPv6 neighbour discovery (between containers of one bridge through br_netfilter,
# or with the gateway) is not tracked by conntrack (its ct state is never
# "established"): it is what an address needs to work at all, never a connection
# a policy judges (an egress-gated container's solicitation goes to a multicast
# address no rule allows)
_ND = ("icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, "
       "nd-router-advert } return")


def _lookups(d: str) -> list[str]:
    side = "daddr" if d == "in" else "saddr"
    return [f"{_IP[f]} {side} vmap @pv{d}{f}" for f in (4, 6)]


POLICY_CHAINS: dict[str, tuple[str | None, list[str]]] = {
    "allowlist": (None, [_ND] + _lookups("in") + _lookups("eg")),  # "policy": an nft keyword
    # a container's new connection to one of the host's own addresses (input hook,
    # from a bridge): judged by its egress policy
    "polhostin": (None, [_ND] + _lookups("eg")),
    # the host's own new connection to a container (output hook, into a bridge; a
    # port published on the host's loopback is DNATed before, its source still
    # 127.0.0.1): judged by the container's ingress policy
    "polhostout": (None, [_ND] + _lookups("in")),
}
# the jumps into them from the input and output hooks (ruleset.py)
HOST_IN_JUMP = "iifname @bridges ct state != { established, related } jump polhostin"
HOST_OUT_JUMP = "oifname @bridges ct state != { established, related } jump polhostout"


def rule_text(chain: str, rule: tuple) -> str:
    """One allow rule of a policy chain (``pi...`` ingress: the peer is the
    source; ``pe...`` egress: the destination)."""
    fam, kind, peer, proto, lo, hi = rule
    side = "saddr" if chain.startswith("pi") else "daddr"
    ip = _IP[fam]
    match = f"{ip} {side} @{peer}{fam}" if kind == "group" else \
        f"{ip} {side} {{ {', '.join(peer)} }}"
    ports = "" if (lo, hi) == (0, 65535) else \
        (f" th dport {lo}" if lo == hi else f" th dport {lo}-{hi}")
    return f"{match} meta l4proto {proto}{ports} return"


def _by_map(keys) -> dict[str, list]:
    out: dict[str, list] = {}
    for k in keys:
        d, fam, ip = k[:3]
        out.setdefault(f"pv{d}{fam}", []).append(k)
    return out


def policy_script(ch: dict) -> list[str]:
    """The commands of one policy change (policy/plan.py's keys), in an order
    the kernel accepts in one transaction: a map element before the chain it
    jumps to goes, a chain before the group sets it names go, a set before
    its elements and rules come, a chain before the map element that jumps
    to it."""
    out = []
    for name, keys in sorted(_by_map(ch.get("vmap_del", ())).items()):
        out.append(f"delete element {T} {name} {{ {', '.join(k[2] for k in keys)} }}")
    for c in ch.get("chains_del", ()):
        out += [f"flush chain {T} {c}", f"delete chain {T} {c}"]
    for g in ch.get("groups_del", ()):
        out += [f"delete set {T} {g}{f}" for f in (4, 6)]
    dels: dict[str, list] = {}
    for g, f, ip in ch.get("members_del", ()):
        dels.setdefault(f"{g}{f}", []).append(ip)
    out += [f"delete element {T} {s} {{ {', '.join(ips)} }}" for s, ips in dels.items()]
    for g in ch.get("groups_add", ()):
        out += [f"add set {T} {g}{f} {{ type {_A[f]}; }}" for f in (4, 6)]
    adds: dict[str, list] = {}
    for g, f, ip in ch.get("members_add", ()):
        adds.setdefault(f"{g}{f}", []).append(ip)
    out += [f"add element {T} {s} {{ {', '.join(ips)} }}" for s, ips in adds.items()]
    for c, rules in ch.get("chains_add", {}).items():
        out.append(f"add chain {T} {c}")
        out += [f"add rule {T} {c} {rule_text(c, r)}" for r in rules]
        out.append(f"add rule {T} {c} jump poldrop")   # default-deny, logged for flows
    vadd = ch.get("vmap_add", {})
    for name, keys in sorted(_by_map(vadd).items()):
        items = ", ".join(f"{k[2]} : jump {vadd[k]}" for k in keys)
        out.append(f"add element {T} {name} {{ {items} }}")
    return out


def apply(state: dict, ch: dict) -> None:
    """Record a change in ``state`` (groups: gid -> {(fam, ip)}, chains: name ->
    rules, vmap: key -> chain), which a full render re-creates (``as_change``)."""
    groups, chains, vmap = state["groups"], state["chains"], state["vmap"]
    for k in ch.get("vmap_del", ()):
        vmap.pop(k, None)
    for c in ch.get("chains_del", ()):
        chains.pop(c, None)
    for g in ch.get("groups_del", ()):
        groups.pop(g, None)
    for g, f, ip in ch.get("members_del", ()):
        groups.get(g, set()).discard((f, ip))
    for g in ch.get("groups_add", ()):
        groups.setdefault(g, set())
    for g, f, ip in ch.get("members_add", ()):
        groups.setdefault(g, set()).add((f, ip))
    chains.update(ch.get("chains_add", {}))
    vmap.update(ch.get("vmap_add", {}))


def empty_state() -> dict:
    """No policy installed."""
    return {"groups": {}, "chains": {}, "vmap": {}}


def as_change(state: dict) -> dict:
    """Everything in ``state`` as a change from nothing (a full render)."""
    return {"groups_add": sorted(state["groups"]),
            "members_add": sorted((g, f, ip) for g, s in state["groups"].items()
                                  for f, ip in s),
            "chains_add": dict(state["chains"]), "vmap_add": dict(state["vmap"])}
