"""The Planner's reference counts, and the difference of a few containers' change.

policy/plan.py's ``Planner.update`` recomputes the whole state (every policy's
chains, every group's members, the verdict maps) and compares it with the
installed one; that is what a daemon start or a network change needs.  One
container's event (started, stopped, connected, renamed) changes only its own
addresses and chains, so ``Planner.update_containers`` keeps, between changes:

* the *pool*: every group id -> how many members of any container (policied
  or not) have an address in it, per (family, address), whether or not a
  chain names the group now (so a group a new chain names is filled at once);
* the chains' references: chain name -> the container entries using it, and
  group id -> the installed chains naming it (a group is installed while one
  does, as in the full recompute);
* the verdict map's owners: (direction, family, address) -> (container id,
  chain).  Addresses are unique on a host (IPAM); if two containers claim one
  anyway, the owner would depend on the full recompute's order, so the index
  says it is not exact and the Planner recomputes fully while that lasts.

``Index.diff`` then compares only what the change touched with the installed
state and gives exactly the change dict the full recompute would give (the
same keys, the same sorted lists); tests/unit/test_policy_incremental.py checks
that over random histories.
"""

from __future__ import annotations

from collections import Counter


def chain_groups(body: tuple) -> set:
    """The group ids a chain's rules name."""
    return {r[2] for r in body if r[1] == "group"}


class Index:
    """Reference counts kept between changes (see the module docstring)."""

    def __init__(self):
        """Empty: nothing counted."""
        self.pool: dict[str, Counter] = {}   # group id -> Counter((fam, ip))
        self.refs: Counter = Counter()       # chain name -> container entries using it
        self.grefs: Counter = Counter()      # group id -> installed chains naming it
        self.owner: dict[tuple, tuple] = {}  # vmap key -> (container id, chain name)
        self.exact = False                   # False: no duplicate owner checked yet

    def rebuild(self, per_cid: dict, mem: dict, ids_of, chains: dict) -> None:
        """Count everything anew (after a full recompute): ``per_cid`` container
        id -> its entry (policy, ips, project, [(chain, body, gids, keys)]),
        ``mem`` container id -> Members, ``chains`` the chains now installed."""
        self.pool, self.refs, self.grefs, self.owner = {}, Counter(), Counter(), {}
        self.exact = True
        for own in mem.values():
            self.move_members((), own, ids_of, None)
        for cid, entry in per_cid.items():
            if not self.add_entry(cid, entry, None, None):
                self.exact = False
        for body in chains.values():
            self.grefs.update(chain_groups(body))

    def move_members(self, old, new, ids_of, touched: dict | None) -> None:
        """One container's members ``old`` replaced by ``new`` in the pool;
        ``touched``: group id -> {(fam, ip)} whose count changed."""
        pool = self.pool
        for sign, mems in ((-1, old), (1, new)):
            for m in mems:
                k = (6 if ":" in m.ip else 4, m.ip)
                for gid in ids_of(m):
                    c = pool.get(gid)
                    if c is None:
                        c = pool[gid] = Counter()
                    n = c[k] + sign
                    if n > 0:
                        c[k] = n
                    else:
                        del c[k]
                        if not c:
                            del pool[gid]
                    if touched is not None:
                        touched.setdefault(gid, set()).add(k)

    def drop_entry(self, cid: str, entry, chains_t: set, keys_t: set) -> None:
        """A container's chains and map keys no longer used by it."""
        for name, _, _, keys in entry[3]:
            self.refs[name] -= 1
            if self.refs[name] <= 0:
                del self.refs[name]
            chains_t.add(name)
            for k in keys:
                if self.owner.get(k, ("",))[0] == cid:
                    del self.owner[k]
                keys_t.add(k)

    def add_entry(self, cid: str, entry, chains_t: set | None, keys_t: set | None) -> bool:
        """A container's chains and map keys used by it; False when one of its
        addresses is another container's already (the index is not exact)."""
        ok = True
        for name, _, _, keys in entry[3]:
            self.refs[name] += 1
            if chains_t is not None:
                chains_t.add(name)
            for k in keys:
                prev = self.owner.get(k)
                if prev is not None and prev[0] != cid:
                    ok = False
                self.owner[k] = (cid, name)
                if keys_t is not None:
                    keys_t.add(k)
        return ok

    def diff(self, groups: dict, chains: dict, vmap: dict, bodies: dict,
             chains_t: set, members_t: dict, keys_t: set) -> dict:
        """The change from the installed ``groups``, ``chains``, ``vmap`` (brought
        up to date here) over what was touched: chain names ``chains_t`` (their
        bodies in ``bodies``), group members ``members_t``, map keys ``keys_t``."""
        chains_add, chains_del = {}, []
        groups_t = set(members_t)
        for name in chains_t:
            now, was = self.refs.get(name, 0) > 0, name in chains
            if now and not was:
                body = chains[name] = chains_add[name] = bodies[name]
                gids = chain_groups(body)
                self.grefs.update(gids)
            elif was and not now:
                chains_del.append(name)
                gids = chain_groups(chains.pop(name))
                self.grefs.subtract(gids)
            else:
                continue
            groups_t |= gids
        groups_add, groups_del, members_add, members_del = [], [], [], []
        for g in groups_t:
            now, was = self.grefs.get(g, 0) > 0, g in groups
            if now and not was:
                groups_add.append(g)
                s = groups[g] = set(self.pool.get(g, ()))
                members_add += [(g, f, ip) for f, ip in s]
            elif was and not now:
                groups_del.append(g)
                del groups[g]
            elif now:
                s, pool = groups[g], self.pool.get(g, ())
                for k in members_t.get(g, ()):
                    if k in pool and k not in s:
                        s.add(k)
                        members_add.append((g, *k))
                    elif k not in pool and k in s:
                        s.discard(k)
                        members_del.append((g, *k))
            if self.grefs.get(g, 1) <= 0:
                del self.grefs[g]
        vmap_add, vmap_del = {}, []
        for k in keys_t:
            new, old = self.owner.get(k, (None, None))[1], vmap.get(k)
            if old is not None and old != new:
                vmap_del.append(k)
                del vmap[k]
            if new is not None and new != old:
                vmap_add[k] = vmap[k] = new
        ch: dict = {
            "groups_add": sorted(groups_add), "groups_del": sorted(groups_del),
            "members_add": sorted(members_add), "members_del": sorted(members_del),
            "chains_add": {n: chains_add[n] for n in sorted(chains_add)},
            "chains_del": sorted(chains_del),
            "vmap_del": sorted(vmap_del), "vmap_add": dict(sorted(vmap_add.items())),
        }
        return {k: v for k, v in ch.items() if v}
