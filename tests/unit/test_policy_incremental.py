"""Planner.update_containers (one container's event) gives what the full recompute gives.

Random histories over a small host (services of two projects, containers with
and without policies, one or two networks, both families): every step changes
one to three containers (started, stopped, connected to or disconnected from a
second network, renamed, recreated with another or the same policy parsed
again) or a network's subnets.  One Planner is told only the changed
containers (``update_containers``), another recomputes everything
(``update``) from the same previous state: both must return the same change
dict and hold the same groups, chains and verdict map; the changes applied
(firewall/nft/policyset.py ``apply``) must rebuild that state, and a fresh
full update over the whole inventory, from nothing, must reach it too.
"""

from __future__ import annotations

import random

from boxnet.firewall.nft.policyset import apply, empty_state, policy_script
from boxnet.policy.compile import Member
from boxnet.policy.model import parse
from boxnet.policy.plan import Planner, group_id, group_key

POLS = [
    {"ingress": [{"service": "web", "ports": ["80/tcp", "8000-8100/tcp"]},
                 {"container": "c3", "ports": ["53/udp"]}]},
    {"egress": [{"service": "web"}, {"network": "back", "ports": ["443"]},
                {"cidr": "10.9.0.0/16", "ports": ["5432"]}]},
    {"ingress": [], "egress": [{"container": "c1", "ports": ["icmp", "22"]}]},
    {"ingress": [{"service": "db", "ports": ["5432/tcp"]}, {"network": "front"}]},
    {"ingress": [{"container": "x5", "ports": ["80"]}],
     "egress": [{"service": "db"}, {"service": "web", "ports": ["8080"]}]},
]
N = 10


class Host:
    """The containers and networks of a random history, as the keeper sees them."""

    def __init__(self, rng):
        self.rng = rng
        self.c = {}          # cid -> dict(name, svc, proj, pol, running, back, v6)
        for i in range(N):
            self.c[f"c{i}"] = self._new(i)
        self.nets = {"front": ("10.0.0.0/24", "fd00::/64"), "back": ("10.5.0.0/24",)}

    def _new(self, i):
        rng = self.rng
        return {"name": f"c{i}", "svc": rng.choice(["web", "db", ""]),
                "proj": rng.choice(["p", "q", ""]), "running": rng.random() < 0.6,
                "pol": parse(rng.choice(POLS)) if rng.random() < 0.6 else None,
                "back": rng.random() < 0.3, "v6": rng.random() < 0.5}

    def own(self, cid):
        """(Policy, Members) of one container now."""
        d, i = self.c[cid], int(cid[1:])
        if not d["running"]:
            return d["pol"], []
        mk = (lambda net, ip: Member(cid, d["name"], d["svc"], d["proj"], net, ip))
        out = [mk("front", f"10.0.0.{i + 2}")]
        if d["v6"]:
            out.append(mk("front", f"fd00::{i + 2}"))
        if d["back"]:
            out.append(mk("back", f"10.5.0.{i + 2}"))
        return d["pol"], out

    def inventory(self):
        policies, members = {}, []
        for cid in self.c:
            pol, own = self.own(cid)
            members += own
            if pol is not None:
                policies[cid] = pol
        return policies, members, dict(self.nets)

    def event(self) -> list:
        """Change one to three containers (or a network, returning []); the ids changed."""
        rng = self.rng
        if rng.random() < 0.08:
            self.nets["back"] = rng.choice([("10.5.0.0/24",), ("10.5.0.0/24", "fd00:5::/64"),
                                            ("10.6.0.0/24",)])
            return []
        cids = rng.sample(sorted(self.c), rng.choice([1, 1, 1, 2, 3]))
        for cid in cids:
            d, r = self.c[cid], rng.random()
            if r < 0.3:
                d["running"] = not d["running"]
            elif r < 0.45:
                d["back"] = not d["back"]
            elif r < 0.55:
                d["name"] = rng.choice([cid, "x5", f"r{cid}"]) if d["name"] != "x5" else cid
                if d["name"] == "x5" and any(o["name"] == "x5" for k, o in self.c.items()
                                             if k != cid):
                    d["name"] = cid          # names are unique
            elif r < 0.7:
                self.c[cid] = {**self._new(int(cid[1:])), "name": d["name"]}   # recreated
            elif r < 0.8 and d["pol"] is not None:
                d["pol"] = parse(rng.choice(POLS))     # same content may come: a new object
            else:
                d["v6"] = not d["v6"]
        return cids


def _state(plan):
    return {"groups": plan.groups, "chains": plan.chains, "vmap": plan.vmap}


def test_incremental_equals_full_on_random_histories():
    for seed in range(60):
        rng = random.Random(seed)
        host = Host(rng)
        inc, full, fw = Planner(), Planner(), empty_state()
        first = host.inventory()
        ch = inc.update(*first)
        assert ch == full.update(*first)
        apply(fw, ch)
        for step in range(40):
            cids = host.event()
            policies, members, nets = host.inventory()
            if cids:
                ch = inc.update_containers({c: host.own(c) for c in cids}, nets)
            else:                                  # a network's event: the keeper's full path
                ch = inc.update(policies, members, nets)
            want = full.update(policies, members, nets)
            assert ch == want, (seed, step, cids)
            assert _state(inc) == _state(full)
            policy_script(ch)
            apply(fw, ch)
            assert fw == _state(inc), (seed, step)
            if step % 10 == 9:                     # from nothing, the same state
                fresh = Planner()
                fresh.update(policies, members, nets)
                assert _state(fresh) == _state(inc)
                assert inc.update(policies, members, nets) == {}   # a reconcile: no change
        for cid in list(host.c):                   # everything stops, one by one
            host.c[cid]["running"] = False
            ch = inc.update_containers({cid: host.own(cid)}, host.nets)
            assert ch == full.update(*host.inventory())
            apply(fw, ch)
        assert inc.empty() and fw == empty_state()


def test_a_replica_touches_its_own_elements_only():
    fleet = parse({"ingress": [{"service": "fleet", "ports": ["8000/tcp"]}]})
    members = [Member(f"f{i}", f"f{i}", "fleet", "p", "n", f"10.1.0.{i + 2}") for i in range(50)]
    plan = Planner()
    plan.update({m.container_id: fleet for m in members}, members, {})
    new = Member("f50", "f50", "fleet", "p", "n", "10.1.0.52")
    ch = plan.update_containers({"f50": (fleet, [new])}, {})
    gid = group_id(group_key("service", "fleet", "p"))
    chain = plan.vmap[("in", 4, "10.1.0.2")]
    assert ch == {"members_add": [(gid, 4, "10.1.0.52")],
                  "vmap_add": {("in", 4, "10.1.0.52"): chain}}
    assert plan.update_containers({"f50": (None, [])}, {}) == {
        "members_del": [(gid, 4, "10.1.0.52")], "vmap_del": [("in", 4, "10.1.0.52")]}
    # an unpolicied member of a group no chain names yet, then a chain naming it
    plan.update_containers({"w": (None, [Member("w", "w", "web", "p", "n", "10.1.0.99")])}, {})
    web = parse({"egress": [{"service": "web"}]})
    ch = plan.update_containers({"f0": (web, [members[0]])}, {})
    wid = group_id(group_key("service", "web", "p"))     # f0's project's service
    assert ch["groups_add"] == [wid] and ch["members_add"] == [(wid, 4, "10.1.0.99")]


def test_an_address_claimed_twice_falls_back_to_the_full_recompute():
    pa, pb = parse({"ingress": []}), parse({"egress": []})
    a, b = Member("a", "a", "", "", "n", "10.0.0.2"), Member("b", "b", "", "", "n", "10.0.0.2")
    plan, fw = Planner(), empty_state()
    apply(fw, plan.update({"a": pa}, [a], {}))
    apply(fw, plan.update_containers({"b": (pb, [b])}, {}))
    assert fw == _state(plan)
    assert plan.update({"a": pa, "b": pb}, [a, b], {}) == {}   # what a full one holds
    apply(fw, plan.update_containers({"b": (None, [])}, {}))
    assert fw == _state(plan) and set(plan.vmap) == {("in", 4, "10.0.0.2")}
