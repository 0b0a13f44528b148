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

``Planner.update`` returns the difference to apply (one transaction), in time
proportional to the policies and endpoints (no per-pair work).
"""

from __future__ import annotations

import hashlib

from .compile import _fam, l4proto

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
        self._nets: dict = {}

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

    def update(self, policies: dict, members: list, networks: dict) -> dict:
        """The change that turns the installed state into that of ``policies``
        (container id -> Policy) over ``members`` (compile.Member) and
        ``networks`` (name and id -> subnets); applied to this Planner.

        Keys: groups_add / groups_del (group ids), members_add / members_del
        ((gid, fam, ip)), chains_add ({name: rules}), chains_del (names),
        vmap_add ({(dir, fam, ip): chain}), vmap_del ([(dir, fam, ip)]);
        empty lists are left out."""
        by_cid: dict[str, list] = {}
        for m in members:
            by_cid.setdefault(m.container_id, []).append(m)
        if networks != self._nets:                  # network rules resolve to subnets
            self._per_cid = {}
            self._nets = dict(networks)
        cache, kept = self._per_cid, {}
        chains: dict[str, tuple] = {}
        vmap: dict[tuple, str] = {}
        wanted: set = set()
        for cid, pol in policies.items():
            own = by_cid.get(cid)
            if not own:
                continue
            ips = tuple(m.ip for m in own)
            project = own[0].project
            hit = cache.get(cid)
            if hit is None or hit[0] is not pol or hit[1] != ips or hit[2] != project:
                fams = tuple(sorted({_fam(ip) for ip in ips}))
                entries = []
                for direction, d in (("ingress", "in"), ("egress", "eg")):
                    if pol.rules(direction) is None:
                        continue
                    name, body = self._chain(pol, direction, project, networks, fams)
                    entries.append((name, body, {r[2] for r in body if r[1] == "group"},
                                    [(d, _fam(ip), ip) for ip in ips]))
                hit = (pol, ips, project, entries)
            kept[cid] = hit
            for name, body, gids, keys in hit[3]:
                chains[name] = body
                wanted |= gids
                for k in keys:
                    vmap[k] = name
        self._per_cid = kept                        # unchanged containers: no work above
        groups: dict[str, set] = {g: set() for g in wanted}
        ids = self._ids
        if len(ids) > 16384:
            ids.clear()
        for m in members:
            k = (m.name, m.service, m.project)
            gids = ids.get(k)
            if gids is None:
                gids = ids[k] = tuple(group_id(x) for x in _member_keys(m))
            for gid in gids:
                if gid in groups:
                    groups[gid].add((_fam(m.ip), m.ip))
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
