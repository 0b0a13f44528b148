"""Policies + endpoints -> group sets, per-policy chains and the endpoint verdict maps.

Sans-I/O, as compile.py, whose sets it replaces in the firewall (compile.py
stays the reference of what a policy means: verdict.explain reads its
``Elements``; tests/unit/test_policy_plan.py checks both agree).  The firewall
holds three kinds of objects (firewall/nft/policyset.py renders them):

* a *group* per name a rule can mention (a compose service of a project, a
  service of any project, a container name): one set per family of the
  member addresses, kept by membership alone.  A replica joining ``app``
  adds ONE element to ``app``'s group, whatever the number of policies
  naming it (the pair sets of before added one element per policy and port);
* a *chain* per distinct (direction, rules, project, subnets of the networks
  it names): its rules match peers by group set, CIDR or subnet, protocol
  and port, ``return`` when allowed, then the logged default-deny.  Its name
  is a digest of its content, so replicas of one service share one chain and
  a chain is never changed in place: a new content is a new chain;
* a verdict map per direction: a gated endpoint address -> ``jump`` its
  chain.  A packet costs one map lookup and its own endpoint's rules only,
  whatever the number of policies on the host.

``Planner.update`` returns the difference to apply (one transaction) from a
full recompute, in time proportional to the policies and endpoints (no
per-pair work): at daemon start, when networks change, when the caller does
not know what changed.  ``Planner.update_containers`` takes only the
containers that changed (their policy and addresses now) and returns the same
difference, in time proportional to what they touch: their own chains, map
keys and group elements, whatever the number of other policies and members
(policy/plandelta.py keeps the reference counts that allow it).
"""

from __future__ import annotations

import hashlib

from .compile import _fam, l4proto
from .plandelta import Index

FAMS = (4, 6)
_NONE: frozenset = frozenset()


def _digest(text: str, n: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def group_key(kind: str, name: str, project: str) -> tuple:
    """What a service/container rule of a policy owned in ``project`` names."""
    if kind == "container":
        return ("container", name)
    return ("service", name, project) if project else ("service", name)


def group_id(key: tuple) -> str:
    """The firewall's name stem of a group (its sets add the family: 4 or 6)."""
    return "pg" + _digest(repr(key), 12)


def _member_keys(m) -> tuple:
    return (("container", m.name), ("service", m.service, m.project), ("service", m.service))


def chain_rules(direction: str, rules, project: str, networks: dict,
                fams: tuple = FAMS) -> tuple:
    """The rules of one direction's chain, as plain tuples the firewall renders:
    (family, peer kind "group"|"cidr", group id | prefixes tuple, l4proto, lo, hi);
    only for the families ``fams`` of the owner's addresses (its map elements are
    of those families only: another family's packet never reaches the chain)."""
    out = []
    for rule in rules:
        peers = []
        if rule.kind in ("service", "container"):
            gid = group_id(group_key(rule.kind, rule.peer, project))
            peers = [(f, "group", gid) for f in fams]
        else:
            prefixes = list(networks.get(rule.peer, ())) if rule.kind == "network" \
                else [rule.peer]
            for f in fams:
                mine = tuple(p for p in prefixes if _fam(p) == f)
                if mine:
                    peers.append((f, "cidr", mine))
        for f, kind, peer in peers:
            for pr in rule.ports:
                out.append((f, kind, peer, l4proto(pr.proto, f), pr.lo, pr.hi))
    return tuple(out)


def chain_name(direction: str, rules: tuple) -> str:
    """The chain's name: its direction and a digest of its content."""
    return ("pi" if direction == "ingress" else "pe") + _digest(repr(rules), 14)


class Planner:
    """What the firewall holds, and the difference to the next state."""

    def __init__(self):
        """Nothing installed yet."""
        self.groups: dict[str, set] = {}     # group id -> {(fam, ip)}
        self.chains: dict[str, tuple] = {}   # chain name -> rules (chain_rules)
        self.vmap: dict[tuple, str] = {}     # ("in"|"eg", fam, ip) -> chain name
        self._memo: dict[tuple, tuple] = {}  # (id(policy), direction, project, fams) -> chain
        self._ids: dict[tuple, tuple] = {}   # (name, service, project) -> its group ids
        self._per_cid: dict[str, tuple] = {} # container id -> (policy, ips, project, entries)
        self._pols: dict[str, object] = {}   # the inventory: container id -> Policy
        self._mem: dict[str, tuple] = {}     # container id -> its Members
        self._nets: dict = {}
        self._ix = Index()                   # reference counts (plandelta.py)

    def empty(self) -> bool:
        """True when nothing is installed."""
        return not (self.groups or self.chains or self.vmap)

    def _chain(self, pol, direction: str, project: str, networks: dict, fams: tuple):
        # keyed by the Policy object's identity (the keeper parses a label once):
        # hashing a Policy's nested tuples for each of 100 policies on every
        # refresh cost more than the nft transaction of a change
        key = (id(pol), direction, project, fams)
        hit = self._memo.get(key)
        if hit is not None and hit[0] is pol:
            nets = hit[3]
            if not nets or all(tuple(networks.get(n, ())) == v for n, v in nets):
                return hit[1], hit[2]
        rules = pol.rules(direction)
        nets = tuple((r.peer, tuple(networks.get(r.peer, ()))) for r in rules
                     if r.kind == "network")
        body = chain_rules(direction, rules, project, networks, fams)
        hit = (pol, chain_name(direction, body), body, nets)
        if len(self._memo) > 4096:
            self._memo.clear()
        self._memo[key] = hit
        return hit[1], hit[2]

    def _entry(self, pol, own: tuple, hit, networks: dict):
        """A policied container's (policy, ips, project, [(chain, body, group ids,
        map keys)]); ``hit``, its previous one, reused when nothing differs."""
        ips = tuple(m.ip for m in own)
        project = own[0].project
        if hit is not None and hit[0] is pol and hit[1] == ips and hit[2] == project:
            return hit
        fams = tuple(sorted({_fam(ip) for ip in ips}))
        entries = []
        for direction, d in (("ingress", "in"), ("egress", "eg")):
            if pol.rules(direction) is None:
                continue
            name, body = self._chain(pol, direction, project, networks, fams)
            entries.append((name, body, {r[2] for r in body if r[1] == "group"},
                            [(d, _fam(ip), ip) for ip in ips]))
        return (pol, ips, project, entries)

    def _gids(self, m) -> tuple:
        k = (m.name, m.service, m.project)
        gids = self._ids.get(k)
        if gids is None:
            if len(self._ids) > 16384:
                self._ids.clear()
            gids = self._ids[k] = tuple(group_id(x) for x in _member_keys(m))
        return gids

    def update(self, policies: dict, members: list, networks: dict) -> dict:
        """The change that turns the installed state into that of ``policies``
        (container id -> Policy) over ``members`` (compile.Member) and
        ``networks`` (name and id -> subnets); applied to this Planner.  A full
        recompute: every policy and member is looked at.

        Keys: groups_add / groups_del (group ids), members_add / members_del
        ((gid, fam, ip)), chains_add ({name: rules}), chains_del (names),
        vmap_add ({(dir, fam, ip): chain}), vmap_del ([(dir, fam, ip)]);
        empty lists are left out."""
        by_cid: dict[str, list] = {}
        for m in members:
            by_cid.setdefault(m.container_id, []).append(m)
        self._pols = dict(policies)
        self._mem = {cid: tuple(own) for cid, own in by_cid.items()}
        return self._full(networks)

    def update_containers(self, changed: dict, networks: dict) -> dict:
        """The same change as ``update`` would give when only the containers of
        ``changed`` (container id -> (its Policy or None, its Members now; none:
        gone or stopped)) differ from the last update; in time proportional to
        their chains, map keys and group elements.  Falls back to a full
        recompute when ``networks`` differ from the last update's (network rules
        resolve to subnets) or the index is not exact (plandelta.py)."""
        ix = self._ix
        if not ix.exact or networks != self._nets:
            for cid, (pol, own) in changed.items():
                self._set(cid, pol, tuple(own))
            return self._full(networks)
        chains_t: set = set()
        members_t: dict = {}
        keys_t: set = set()
        bodies: dict = {}
        items = list(changed.items())
        for i, (cid, (pol, own)) in enumerate(items):
            own = tuple(own)
            old = self._mem.get(cid, ())
            if own != old:
                ix.move_members(old, own, self._gids, members_t)
            self._set(cid, pol, own)
            hit = self._per_cid.pop(cid, None)
            if hit is not None:
                ix.drop_entry(cid, hit, chains_t, keys_t)
            if pol is not None and own:
                hit = self._entry(pol, own, hit, networks)
                self._per_cid[cid] = hit
                if not ix.add_entry(cid, hit, chains_t, keys_t):   # an address claimed
                    for cid2, (pol2, own2) in items[i + 1:]:         # twice: the order
                        self._set(cid2, pol2, tuple(own2))          # of a full one
                    return self._full(networks)
                for name, body, _, _ in hit[3]:
                    bodies[name] = body
        return ix.diff(self.groups, self.chains, self.vmap, bodies, chains_t, members_t,
                       keys_t)

    def _set(self, cid: str, pol, own: tuple) -> None:
        if pol is None:
            self._pols.pop(cid, None)
        else:
            self._pols[cid] = pol
        if own:
            self._mem[cid] = own
        else:
            self._mem.pop(cid, None)

    def _full(self, networks: dict) -> dict:
        """``update``'s recompute over the inventory (``_pols``, ``_mem``)."""
        by_cid = self._mem
        if networks != self._nets:                  # network rules resolve to subnets
            self._per_cid = {}
            self._nets = dict(networks)
        cache, kept = self._per_cid, {}
        chains: dict[str, tuple] = {}
        vmap: dict[tuple, str] = {}
        wanted: set = set()
        for cid, pol in self._pols.items():
            own = by_cid.get(cid)
            if not own:
                continue
            hit = kept[cid] = self._entry(pol, own, cache.get(cid), networks)
            for name, body, gids, keys in hit[3]:   # unchanged containers: no work above
                chains[name] = body
                wanted |= gids
                for k in keys:
                    vmap[k] = name
        self._per_cid = kept
        ix = self._ix
        ix.rebuild(kept, by_cid, self._gids, chains)
        groups: dict[str, set] = {g: set(ix.pool.get(g, ())) for g in wanted}
        old_g = self.groups
        vgone = self.vmap.items() - vmap.items()        # set operations in C: 100s of
        vcame = vmap.items() - self.vmap.items()        # entries, a few changed
        ch: dict = {
            "groups_add": sorted(groups.keys() - old_g.keys()),
            "groups_del": sorted(old_g.keys() - groups.keys()),
            "members_add": sorted((g, f, ip) for g, s in groups.items()
                                  for f, ip in s - old_g.get(g, _NONE)),
            "members_del": sorted((g, f, ip) for g, s in old_g.items() if g in groups
                                  for f, ip in s - groups[g]),
            "chains_add": {n: chains[n] for n in sorted(chains.keys() - self.chains.keys())},
            "chains_del": sorted(self.chains.keys() - chains.keys()),
            "vmap_del": sorted(k for k, _ in vgone),
            "vmap_add": dict(sorted(vcame)),
        }
        self.groups, self.chains, self.vmap = groups, chains, vmap
        return {k: v for k, v in ch.items() if v}
