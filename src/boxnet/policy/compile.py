"""Compile policies and the current endpoints into address pair elements: what a policy means.

Sans-I/O: the input is what the daemon knows now (every running container's
endpoint addresses, its name, compose service and project; every network's
subnets), the output an ``Elements`` value: every allowed (source,
destination, protocol, ports) of the gated addresses.  verdict.explain
reads it (diagnose, the UI).  The firewall no longer installs these pairs
(a replica joining a service named by 98 policies was ~400 elements): it
installs policy/plan.py's group sets, chains and verdict maps, which
tests/unit/test_policy_plan.py proves mean the same.  The notes below are
about the pair sets of before, kept for the layout of ``Elements``.

Per direction and family: the *gates* (the addresses of containers whose
policy restricts ingress, or egress), and four allow sets.  Peers that are
endpoints go to hash sets when they can: ``port_*`` (one port:
``saddr . daddr . l4proto . dport``) and ``any_*`` (every port:
``saddr . daddr . l4proto``); only their port ranges go to the interval set
``range_*``; peers that are networks or CIDRs go to the interval set
``cidr_*``.  Deleting elements from a big interval set costs the nft tool
a search per element (0.4-5 s for 400 of 20,000 here, against 2 ms for a
hash set), and the kernel's concatenated interval sets (pipapo) refuse
some partially overlapping elements ("File exists"): so exact and CIDR
peers are kept apart and port ranges of one address pair merged.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .model import Policy, PortRange

COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_PROJECT = "com.docker.compose.project"


@dataclass(frozen=True)
class Member:
    """One address of a running container's endpoint."""

    container_id: str
    name: str            # container name, no leading slash
    service: str         # compose service ("" when none)
    project: str         # compose project ("" when none)
    network: str         # network name
    ip: str              # plain address


@dataclass(frozen=True)
class Elements:
    """Set contents, each a frozenset of tuples (family is 4 or 6).

    gate_in / gate_eg: (family, ip); the others:
    (family, saddr, daddr, l4proto, lo, hi) where a cidr_* address may be a
    prefix (port_*: lo == hi; any_*: 0-65535).  Ingress keys have the gated
    address as daddr, egress as saddr.
    """

    gate_in: frozenset = field(default_factory=frozenset)
    gate_eg: frozenset = field(default_factory=frozenset)
    port_in: frozenset = field(default_factory=frozenset)
    port_eg: frozenset = field(default_factory=frozenset)
    any_in: frozenset = field(default_factory=frozenset)
    any_eg: frozenset = field(default_factory=frozenset)
    range_in: frozenset = field(default_factory=frozenset)
    range_eg: frozenset = field(default_factory=frozenset)
    cidr_in: frozenset = field(default_factory=frozenset)
    cidr_eg: frozenset = field(default_factory=frozenset)

    def allowed(self, direction: str):
        """Every allow element of ``direction`` ("in" or "eg")."""
        return (getattr(self, f"{k}_{direction}") for k in ("port", "any", "range", "cidr"))

    def size(self) -> int:
        """Number of elements in all sets."""
        return sum(len(getattr(self, k)) for k in KINDS)


KINDS = ("gate_in", "gate_eg", "port_in", "port_eg", "any_in", "any_eg", "range_in", "range_eg",
         "cidr_in", "cidr_eg")


def _fam(addr: str) -> int:
    # addresses and prefixes here are already normalised: a colon means IPv6
    # (ipaddress parsing in the inner loop cost ~1 s for 100 policies)
    return 6 if ":" in addr else 4


def l4proto(proto: str, family: int) -> str:
    """nft's inet_proto name of a policy protocol in one family."""
    if proto == "icmp":
        return "icmp" if family == 4 else "ipv6-icmp"
    return proto


def peer_members(kind: str, name: str, owner: Member | None, members) -> list[Member]:
    """The endpoints a name rule means now: a compose service of the owner's
    project (any project when the owner has none), or a container by name."""
    if kind == "service":
        proj = owner.project if owner else ""
        return [m for m in members if m.service == name and (not proj or m.project == proj)]
    if kind == "container":
        return [m for m in members if m.name == name]
    return []


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [tuple(r) for r in out]


def _collapse(raw: dict) -> frozenset:
    """(fam, s, d, proto) -> [(lo, hi)] into disjoint elements."""
    out = []
    for k, rs in raw.items():
        if len(rs) == 1:
            out.append(k + rs[0])
        else:
            out.extend(k + r for r in _merge(rs))
    return frozenset(out)


def _split(exact: frozenset) -> tuple[frozenset, frozenset, frozenset]:
    """Endpoint elements into (one port, every port, port range)."""
    port, anyp, rng = [], [], []
    for e in exact:
        if e[4] == e[5]:
            port.append(e)
        elif (e[4], e[5]) == (0, 65535):
            anyp.append(e)
        else:
            rng.append(e)
    return frozenset(port), frozenset(anyp), frozenset(rng)


def compile_policies(policies: dict[str, Policy], members: list[Member],
                     networks: dict[str, tuple[str, ...]]) -> Elements:
    """The set elements enforcing ``policies`` (container id -> Policy) over
    the endpoints ``members``; ``networks``: network name (and id) -> subnets."""
    by_cid: dict[str, list[Member]] = {}
    for m in members:
        by_cid.setdefault(m.container_id, []).append(m)
    gates = {"ingress": set(), "egress": set()}
    exact = {"ingress": {}, "egress": {}}
    cidrs = {"ingress": {}, "egress": {}}
    for cid, pol in policies.items():
        own = by_cid.get(cid, [])
        if not own:
            continue
        for direction in ("ingress", "egress"):
            rules = pol.rules(direction)
            if rules is None:
                continue
            for m in own:
                gates[direction].add((_fam(m.ip), m.ip))
            for rule in rules:
                if rule.kind in ("service", "container"):
                    peers = [p.ip for p in peer_members(rule.kind, rule.peer, own[0], members)]
                    target = exact[direction]
                elif rule.kind == "network":
                    peers = list(networks.get(rule.peer, ()))
                    target = cidrs[direction]
                else:
                    peers = [rule.peer]
                    target = cidrs[direction]
                fams = [(peer, _fam(peer)) for peer in peers]
                for m in own:
                    fam = _fam(m.ip)
                    protos = [(l4proto(pr.proto, fam), (pr.lo, pr.hi)) for pr in rule.ports]
                    for peer, pfam in fams:
                        if pfam != fam:
                            continue
                        if direction == "egress":
                            s, d = m.ip, peer
                        else:
                            s, d = peer, m.ip
                        for proto, rng in protos:
                            k = (fam, s, d, proto)
                            got = target.get(k)
                            if got is None:
                                target[k] = [rng]
                            else:
                                got.append(rng)
    pi, ai, ri = _split(_collapse(exact["ingress"]))
    pe, ae, re_ = _split(_collapse(exact["egress"]))
    return Elements(gate_in=frozenset(gates["ingress"]), gate_eg=frozenset(gates["egress"]),
                    port_in=pi, port_eg=pe, any_in=ai, any_eg=ae, range_in=ri, range_eg=re_,
                    cidr_in=_collapse(cidrs["ingress"]), cidr_eg=_collapse(cidrs["egress"]))


def diff(old: Elements, new: Elements) -> tuple[dict, dict]:
    """(removed, added): set kind -> sorted elements, for one transaction."""
    gone = {k: sorted(getattr(old, k) - getattr(new, k)) for k in KINDS}
    came = {k: sorted(getattr(new, k) - getattr(old, k)) for k in KINDS}
    return ({k: v for k, v in gone.items() if v}, {k: v for k, v in came.items() if v})


def port_range(pr: PortRange) -> tuple[int, int]:
    """The dport interval a PortRange covers in the sets."""
    return (pr.lo, pr.hi)
