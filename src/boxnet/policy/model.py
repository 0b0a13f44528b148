"""A container's policy: allow-lists of ingress and egress, parsed and validated.

The value of the ``com.boxnet.policy`` label is JSON::

    {"ingress": [{"service": "app", "ports": ["5432/tcp"]}],
     "egress":  [{"service": "db",  "ports": ["5432/tcp"]}]}

Each rule names exactly one peer (``service``, ``container``, ``network`` or
``cidr``) and optionally ``ports``: items ``N``, ``N/proto``, ``N-M/proto``
(proto tcp, udp or sctp; tcp when omitted) or ``icmp``; no ``ports`` means
every protocol and port.  A direction that is present (even ``[]``) is
default-deny; an absent one keeps Docker's behaviour.  Bad input raises
PolicyError naming the rule: an unknown key, two peers in one rule, a bad
port or CIDR, a name that no container, service or network can have, ports
for icmp, and overlapping rules (the same peer allowed
twice for intersecting ports) are all refused.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

LABEL = "com.boxnet.policy"
DIRECTIONS = ("ingress", "egress")
PEER_KINDS = ("service", "container", "network", "cidr")
PROTOS = ("tcp", "udp", "sctp", "icmp")
ALL_PORTS = (0, 65535)
# names that can exist at all (a rule naming anything else would match nothing, ever):
# Docker's container and network names, compose's service names
NAME_SYNTAX = {"container": re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"),
               "network": re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"),
               "service": re.compile(r"[a-zA-Z0-9._-]+")}
NAME_RULE = {"container": "a container name is [a-zA-Z0-9][a-zA-Z0-9_.-]+",
             "network": "a network name is [a-zA-Z0-9][a-zA-Z0-9_.-]+",
             "service": "a compose service name is [a-zA-Z0-9._-]+"}


class PolicyError(ValueError):
    """A policy that cannot be honoured (the message names the rule)."""


@dataclass(frozen=True)
class PortRange:
    """One protocol and an inclusive port range (icmp: the whole range)."""

    proto: str
    lo: int = 0
    hi: int = 65535

    def overlaps(self, other: "PortRange") -> bool:
        """True when both name the same protocol and their ranges meet."""
        return self.proto == other.proto and self.lo <= other.hi and other.lo <= self.hi

    def text(self) -> str:
        """Compact form, as a user writes it."""
        if self.proto == "icmp":
            return "icmp"
        if (self.lo, self.hi) == ALL_PORTS:
            return f"*/{self.proto}"
        port = str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"
        return f"{port}/{self.proto}"


@dataclass(frozen=True)
class Rule:
    """Allow traffic with one peer on some protocols and ports."""

    kind: str                # service | container | network | cidr
    peer: str                # name, or a normalised CIDR
    ports: tuple[PortRange, ...]

    def text(self) -> str:
        """The rule as a user writes it (errors and diagnose use it)."""
        return f"{self.kind} {self.peer} " + ",".join(p.text() for p in self.ports)


@dataclass(frozen=True)
class Policy:
    """Per direction: None is Docker's behaviour, a tuple is its allow-list."""

    ingress: tuple[Rule, ...] | None = None
    egress: tuple[Rule, ...] | None = None

    def rules(self, direction: str) -> tuple[Rule, ...] | None:
        """The allow-list of ``direction`` (ingress or egress)."""
        return self.ingress if direction == "ingress" else self.egress

    def names(self) -> set[tuple[str, str]]:
        """Every (kind, name) a rule refers to (service/container/network)."""
        return {(r.kind, r.peer) for d in DIRECTIONS for r in (self.rules(d) or ())
                if r.kind != "cidr"}

    def to_json(self) -> str:
        """The label value that parses back to this policy."""
        out = {}
        for d in DIRECTIONS:
            rules = self.rules(d)
            if rules is not None:
                out[d] = [{r.kind: r.peer, "ports": [p.text() for p in r.ports]} for r in rules]
        return json.dumps(out, separators=(",", ":"))


def _port_item(item, where: str) -> PortRange:
    if not isinstance(item, (str, int)) or isinstance(item, bool):
        raise PolicyError(f"{where}: a port is a string like \"5432/tcp\", not {item!r}")
    text = str(item).strip().lower()
    if text == "icmp":
        return PortRange("icmp")
    port, _, proto = text.partition("/")
    proto = proto or "tcp"
    if "icmp" in (port, proto):
        raise PolicyError(f"{where}: icmp has no ports ({item!r}): write \"icmp\"")
    if proto not in PROTOS:
        raise PolicyError(f"{where}: unknown protocol {proto!r} in {item!r} "
                          f"(tcp, udp, sctp or icmp)")
    if port == "*":
        return PortRange(proto, *ALL_PORTS)
    lo_s, dash, hi_s = port.partition("-")
    try:
        lo, hi = int(lo_s), int(hi_s) if dash else int(lo_s)
    except ValueError:
        raise PolicyError(f"{where}: invalid port {item!r}") from None
    if not (1 <= lo <= 65535 and 1 <= hi <= 65535):
        raise PolicyError(f"{where}: port out of range 1-65535 in {item!r}")
    if lo > hi:
        raise PolicyError(f"{where}: contradictory port range {item!r} (start after end)")
    return PortRange(proto, lo, hi)


def _rule(raw, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: a rule is an object like {{\"service\": \"app\", "
                          f"\"ports\": [\"5432/tcp\"]}}, not {raw!r}")
    unknown = sorted(set(raw) - set(PEER_KINDS) - {"ports"})
    if unknown:
        raise PolicyError(f"{where}: unknown key {unknown[0]!r} (service, container, "
                          f"network, cidr, ports)")
    peers = [k for k in PEER_KINDS if k in raw]
    if len(peers) != 1:
        raise PolicyError(f"{where}: a rule names exactly one peer (service, container, "
                          f"network or cidr), not {len(peers)}")
    kind = peers[0]
    peer = raw[kind]
    if not isinstance(peer, str) or not peer.strip():
        raise PolicyError(f"{where}: {kind} must be a non-empty string")
    peer = peer.strip()
    if kind == "cidr":
        try:
            peer = str(ipaddress.ip_network(peer, strict=False))
        except ValueError:
            raise PolicyError(f"{where}: invalid cidr {raw[kind]!r}") from None
    else:
        if kind == "container":
            peer = peer.lstrip("/")
        if not NAME_SYNTAX[kind].fullmatch(peer):
            raise PolicyError(f"{where}: {kind} {peer!r} can never match: {NAME_RULE[kind]}")
    items = raw.get("ports")
    if items is None:
        ports = tuple(PortRange(p) for p in PROTOS)
    else:
        if not isinstance(items, list) or not items:
            raise PolicyError(f"{where}: ports is a non-empty list (leave it out for all)")
        ports = tuple(_port_item(i, where) for i in items)
    for i, a in enumerate(ports):
        for b in ports[i + 1:]:
            if a.overlaps(b):
                raise PolicyError(f"{where}: overlapping ports {a.text()} and {b.text()}")
    return Rule(kind, peer, ports)


def _check_overlaps(rules: list[Rule], direction: str) -> None:
    """Two rules for the same peer whose ports meet are refused (which one holds?)."""
    for i, a in enumerate(rules):
        for b in rules[i + 1:]:
            if a.kind == b.kind and a.peer == b.peer:
                for pa in a.ports:
                    for pb in b.ports:
                        if pa.overlaps(pb):
                            raise PolicyError(
                                f"{direction} rules {i + 1} and {rules.index(b) + 1} overlap: "
                                f"{a.kind} {a.peer} {pa.text()} and {pb.text()}")
            elif a.kind == b.kind == "cidr":
                na, nb = ipaddress.ip_network(a.peer), ipaddress.ip_network(b.peer)
                if na.version == nb.version and na.overlaps(nb) and any(
                        pa.overlaps(pb) for pa in a.ports for pb in b.ports):
                    raise PolicyError(f"{direction} rules {i + 1} and {rules.index(b) + 1} "
                                      f"overlap: cidr {a.peer} and {b.peer}")


def parse(value) -> Policy:
    """A Policy from a label value (JSON text) or an already-decoded mapping."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise PolicyError(f"{LABEL} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PolicyError(f"{LABEL} must be an object with ingress and/or egress lists")
    unknown = sorted(set(value) - set(DIRECTIONS))
    if unknown:
        raise PolicyError(f"{LABEL}: unknown key {unknown[0]!r} (ingress, egress)")
    out = {}
    for d in DIRECTIONS:
        if d not in value:
            continue
        raw = value[d]
        if not isinstance(raw, list):
            raise PolicyError(f"{LABEL}: {d} must be a list of rules")
        rules = [_rule(r, f"{d} rule {n + 1}") for n, r in enumerate(raw)]
        _check_overlaps(rules, d)
        out[d] = tuple(rules)
    return Policy(**out)


def from_labels(labels: dict[str, str]) -> Policy | None:
    """The container's policy, or None when it has no policy label."""
    value = labels.get(LABEL)
    if value is None:
        return None
    return parse(value)
