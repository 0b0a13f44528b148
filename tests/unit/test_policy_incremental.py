"""policy/incremental.py yields exactly compile_policies' sets, change after change.

Random histories over a small world (services, containers, networks, cidrs, both
families, ranges that merge, a policy changing its label): after every update the
installed sets (the union of all differences applied) equal a full compile, and
each difference is minimal (nothing both removed and added).
"""

from __future__ import annotations

import random

from boxnet.policy.compile import KINDS, Member, compile_policies, diff
from boxnet.policy.incremental import Incremental
from boxnet.policy.model import parse

POLS = [
    {"ingress": [{"service": "web", "ports": ["80/tcp", "8000-8100/tcp"]},
                 {"container": "c3", "ports": ["8050-8200/tcp", "53/udp"]}]},
    {"egress": [{"service": "web"}, {"network": "back", "ports": ["443"]},
                {"cidr": "10.9.0.0/16", "ports": ["5432"]}]},
    {"ingress": [], "egress": [{"container": "c1", "ports": ["icmp", "22"]}]},
    {"ingress": [{"service": "db", "ports": ["5432/tcp"]}, {"cidr": "fd00:9::/64"}]},
]


def _world(rng, n=8):
    members, policies = [], {}
    for i in range(n):
        if rng.random() < 0.25:
            continue                                  # not running now
        cid = f"c{i}"
        svc = rng.choice(["web", "db", ""])
        proj = rng.choice(["p", "q"])
        members.append(Member(cid, cid, svc, proj, "n", f"10.0.0.{i + 2}"))
        if rng.random() < 0.5:
            members.append(Member(cid, cid, svc, proj, "n", f"fd00::{i + 2}"))
        if rng.random() < 0.6:
            policies[cid] = PARSED[(i + rng.randrange(2)) % len(PARSED)]
    nets = {"back": ("10.5.0.0/24", "fd00:5::/64")} if rng.random() < 0.7 else {}
    return policies, members, nets


PARSED = [parse(p) for p in POLS]


def test_incremental_equals_a_full_compile_on_random_histories():
    for seed in range(40):
        rng = random.Random(seed)
        inc = Incremental()
        have = {k: set() for k in KINDS}
        for _ in range(25):
            policies, members, nets = _world(rng)
            gone, came = inc.update(policies, members, nets)
            for k in KINDS:
                g, c = set(gone.get(k, ())), set(came.get(k, ()))
                assert not g & c
                assert g <= have[k] and not c & have[k], (seed, k)
                have[k] = (have[k] - g) | c
            want = compile_policies(policies, members, nets)
            for k in KINDS:
                assert have[k] == set(getattr(want, k)), (seed, k)
            assert inc.elements() == want
        assert inc.update({}, [], {})[1] == {}
        assert inc.empty()


def test_a_new_replica_touches_only_its_pairs():
    fleet = parse({"ingress": [{"service": "fleet", "ports": ["8000/tcp"]}]})
    members = [Member(f"f{i}", f"f{i}", "fleet", "p", "n", f"10.1.0.{i + 2}") for i in range(50)]
    policies = {m.container_id: fleet for m in members}
    inc = Incremental()
    inc.update(policies, members, {})
    new = Member("f50", "f50", "fleet", "p", "n", "10.1.0.52")
    gone, came = inc.update({**policies, "f50": fleet}, members + [new], {})
    want = diff(compile_policies(policies, members, {}),
                compile_policies({**policies, "f50": fleet}, members + [new], {}))
    assert (gone, came) == want
    assert sum(map(len, came.values())) == 50 + 51 + 1   # its ingress, theirs, its gate
