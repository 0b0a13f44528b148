"""Service records: the immutable name table the embedded resolvers answer from.

A `NameTable` is built whole from the controller's endpoints and swapped in
one assignment, so a query sees either the old table or the new one, never a
half-applied change. A container's resolver looks names up in a `View`: the
union of the records of the networks the container is attached to (Docker's
rule: names are answered only from networks the requester shares). Views are
shared by every container with the same set of networks, and each view keeps
the ready wire answers for its queries (see wire.py), thrown away with it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


def reverse_name(addr: str) -> str:
    """The in-addr.arpa / ip6.arpa name of an address, lower case, no final dot."""
    return ipaddress.ip_address(addr).reverse_pointer.lower()


@dataclass(frozen=True)
class NetRecords:
    """The records of one user-defined network."""

    name: str
    internal: bool
    # name (lower case, no final dot) -> (IPv4 addresses, IPv6 addresses), join order
    names: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    # reverse name -> PTR target ("container.network")
    ptr: dict[str, str]


@dataclass
class View:
    """What one set of networks answers: merged names and PTRs, plus answer cache."""

    names: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    ptr: dict[str, str]
    internal_only: bool
    # raw query minus its id -> ready answer minus its id (bytes, or a list of
    # rotations for round robin); filled by the resolver, bounded there.
    answers: dict = field(default_factory=dict)


EMPTY_VIEW_KEY: frozenset = frozenset()


class NameTable:
    """An immutable snapshot: per-network records and each container's networks."""

    def __init__(self, nets: dict[str, NetRecords], cont_nets: dict[str, frozenset],
                 cont_links: dict[str, dict] | None = None):
        """Take ownership of the built dicts (never changed afterwards).

        cont_links: container id -> {link alias: (IPv4s, IPv6s)}, the legacy
        ``--link`` names only that container resolves."""
        self.nets = nets
        self.cont_nets = cont_nets
        self.cont_links = cont_links or {}
        self._views: dict = {}

    def view_for(self, container_id: str) -> View:
        """The (shared, memoised) view of a container's networks; a container
        with links has its own view: its networks' names plus its link aliases."""
        nids = self.cont_nets.get(container_id, EMPTY_VIEW_KEY)
        links = self.cont_links.get(container_id)
        if not links:
            return self.view(nids)
        v = self._views.get(container_id)
        if v is None:
            base = self.view(nids)
            v = View(names={**base.names, **links}, ptr=base.ptr,
                     internal_only=base.internal_only)
            self._views[container_id] = v
        return v

    def view(self, nids: frozenset) -> View:
        """The merged view of a set of network ids."""
        v = self._views.get(nids)
        if v is not None:
            return v
        names: dict[str, tuple[list, list]] = {}
        ptr: dict[str, str] = {}
        recs = [self.nets[n] for n in sorted(nids) if n in self.nets]
        for rec in recs:
            for name, (v4, v6) in rec.names.items():
                cur = names.setdefault(name, ([], []))
                cur[0].extend(a for a in v4 if a not in cur[0])
                cur[1].extend(a for a in v6 if a not in cur[1])
            for rev, target in rec.ptr.items():
                ptr.setdefault(rev, target)
        v = View(names={k: (tuple(a), tuple(b)) for k, (a, b) in names.items()}, ptr=ptr,
                 internal_only=bool(recs) and all(r.internal for r in recs))
        self._views[nids] = v
        return v


def _addr(cidr: str) -> str:
    return cidr.split("/")[0] if cidr else ""


def build_table(networks: dict, endpoints, containers: dict,
                exclude: set[str] | frozenset = frozenset()) -> NameTable:
    """Build a snapshot from the controller's state.

    networks: id -> Network; endpoints: iterable of Endpoint; containers:
    id -> Container; exclude: endpoint ids leaving right now (their event
    fires before the core unindexes them). Only endpoints with dns_names
    (user-defined networks) give names; predefined networks give none.
    """
    by_net: dict[str, dict[str, tuple[list, list]]] = {}
    ptr_by_net: dict[str, dict[str, str]] = {}
    cont_nets: dict[str, set] = {}
    endpoints = list(endpoints)
    for ep in endpoints:
        if ep.id in exclude or not ep.dns_names:
            continue
        nw = networks.get(ep.network_id)
        c = containers.get(ep.container_id)
        if nw is None or c is None:
            continue
        cont_nets.setdefault(c.id, set()).add(nw.id)
        v4, v6 = _addr(ep.ipv4), _addr(ep.ipv6)
        recs = by_net.setdefault(nw.id, {})
        ptrs = ptr_by_net.setdefault(nw.id, {})
        netname = nw.name.lower()
        for n in ep.dns_names:
            n = n.lower().rstrip(".")
            if not n:
                continue
            for key in (n, f"{n}.{netname}"):
                cur = recs.setdefault(key, ([], []))
                if v4 and v4 not in cur[0]:
                    cur[0].append(v4)
                if v6 and v6 not in cur[1]:
                    cur[1].append(v6)
        target = f"{c.name.lower()}.{netname}"
        for a in (v4, v6):
            if a:
                ptrs[reverse_name(a)] = target
    nets = {}
    for nid, recs in by_net.items():
        nw = networks[nid]
        nets[nid] = NetRecords(name=nw.name, internal=bool(nw.internal),
                               names={k: (tuple(a), tuple(b)) for k, (a, b) in recs.items()},
                               ptr=ptr_by_net.get(nid, {}))
    return NameTable(nets, {cid: frozenset(s) for cid, s in cont_nets.items()},
                     _link_names(networks, endpoints, containers, exclude))


def _link_names(networks: dict, endpoints: list, containers: dict, exclude) -> dict:
    """Legacy links on user-defined networks (``--link name:alias``, endpoint
    Links): the linking container alone resolves the alias (and the target's
    name) to the target's addresses on the network where the link was made,
    as Docker's embedded DNS does. Targets not running there are skipped."""
    live = [ep for ep in endpoints if ep.id not in exclude and ep.dns_names]
    if not any(ep.links for ep in live) and not any(
            getattr(getattr(c, "config", None), "links", None) for c in containers.values()):
        return {}
    by_name = {c.name: c for c in containers.values()}
    at = {(ep.container_id, ep.network_id): ep for ep in live}
    out: dict[str, dict] = {}
    for ep in live:
        c = containers.get(ep.container_id)
        if c is None or ep.network_id not in networks:
            continue
        specs = [*ep.links, *getattr(getattr(c, "config", None), "links", ())]
        for spec in specs:
            name, _, alias = spec.partition(":")
            name = name.lstrip("/")
            alias = alias.rsplit("/", 1)[-1] or name
            target = by_name.get(name)
            tep = at.get((target.id, ep.network_id)) if target is not None else None
            if tep is None:
                continue
            v4, v6 = _addr(tep.ipv4), _addr(tep.ipv6)
            rec = ((v4,) if v4 else (), (v6,) if v6 else ())
            mine = out.setdefault(c.id, {})
            for n in dict.fromkeys((alias.lower(), name.lower())):
                mine[n] = rec
    return out
