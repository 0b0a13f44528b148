"""Compile policies and the current endpoints into nftables set elements.

Sans-I/O: the input is what the daemon knows now (every running container's
endpoint addresses, its name, compose service and project; every network's
subnets), the output an ``Elements`` value the firewall renders into its
sets (firewall/nft/ruleset.py ``policy_elements``).  Names resolve to the
endpoints that exist at this moment: a new replica of a service is in the
next compile, a removed one is not, and the firewall applies the difference
in one transaction.

Per family there are three kinds of sets: the *gates* (the addresses of
containers whose policy restricts ingress, or egress), the *exact* allow
sets (``saddr . daddr . l4proto . dport-range``, peers that are endpoints)
and the *cidr* allow sets (peers that are networks or CIDRs).  Exact and
CIDR peers are kept apart, and port ranges of one address pair merged,
because the kernel's concatenated interval sets (pipapo) refuse some
partially overlapping elements ("File exists").
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

    gate_in / gate_eg: (family, ip); allow_* and cidr_*:
    (family, saddr, daddr, l4proto, lo, hi) where a cidr_* address may be a
    prefix.  Ingress keys have the gated address as daddr, egress as saddr.
    """

    gate_in: frozenset = field(default_factory=frozenset)
    gate_eg: frozenset = field(default_factory=frozenset)
    allow_in: frozenset = field(default_factory=frozenset)
    allow_eg: frozenset = field(default_factory=frozenset)
    cidr_in: frozenset = field(default_factory=frozenset)
    cidr_eg: frozenset = field(default_factory=frozenset)

    def size(self) -> int:
        """Number of elements in all sets."""
        return sum(len(getattr(self, k)) for k in KINDS)


KINDS = ("gate_in", "gate_eg", "allow_in", "allow_eg", "cidr_in", "cidr_eg")


def _fam(addr: str) -> int:
    return ipaddress.ip_network(addr, strict=False).version


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
    return frozenset((*k, lo, hi) for k, rs in raw.items() for lo, hi in _merge(rs))


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
                for m in own:
                    fam = _fam(m.ip)
                    for peer in peers:
                        if _fam(peer) != fam:
                            continue
                        key = (m.ip, peer) if direction == "egress" else (peer, m.ip)
                        for pr in rule.ports:
                            target.setdefault((fam, *key, l4proto(pr.proto, fam)), []).append(
                                (pr.lo, pr.hi))
    return Elements(gate_in=frozenset(gates["ingress"]), gate_eg=frozenset(gates["egress"]),
                    allow_in=_collapse(exact["ingress"]), allow_eg=_collapse(exact["egress"]),
                    cidr_in=_collapse(cidrs["ingress"]), cidr_eg=_collapse(cidrs["egress"]))


def diff(old: Elements, new: Elements) -> tuple[dict, dict]:
    """(removed, added): set kind -> sorted elements, for one transaction."""
    gone = {k: sorted(getattr(old, k) - getattr(new, k)) for k in KINDS}
    came = {k: sorted(getattr(new, k) - getattr(old, k)) for k in KINDS}
    return ({k: v for k, v in gone.items() if v}, {k: v for k, v in came.items() if v})


def port_range(pr: PortRange) -> tuple[int, int]:
    """The dport interval a PortRange covers in the sets."""
    return (pr.lo, pr.hi)
