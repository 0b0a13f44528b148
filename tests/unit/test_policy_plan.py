"""policy/plan.py's groups, chains and verdict maps mean what compile.py's pairs mean.

Random histories over a small world (services of two projects, containers,
networks, CIDRs, both families, port ranges, policies changing): after every
update the state the firewall holds (the changes applied, firewall/nft/policyset.py
``apply``) is evaluated as the kernel walks it (a verdict map lookup per
direction, the chain's rules, group membership) and must give verdict.explain's
answer over a full compile for every probe; the change never removes what is not
there nor adds what is.  A new replica of a service that every policy names
changes one group element and its own map elements, nothing else.
"""

from __future__ import annotations

import ipaddress
import random

from boxnet.firewall.nft.policyset import apply, as_change, empty_state, policy_script
from boxnet.policy.compile import Member, compile_policies, l4proto
from boxnet.policy.model import parse
from boxnet.policy.plan import Planner, group_id, group_key
from boxnet.policy.verdict import explain

POLS = [
    {"ingress": [{"service": "web", "ports": ["80/tcp", "8000-8100/tcp"]},
                 {"container": "c3", "ports": ["8050-8200/tcp", "53/udp"]}]},
    {"egress": [{"service": "web"}, {"network": "back", "ports": ["443"]},
                {"cidr": "10.9.0.0/16", "ports": ["5432"]}]},
    {"ingress": [], "egress": [{"container": "c1", "ports": ["icmp", "22"]}]},
    {"ingress": [{"service": "db", "ports": ["5432/tcp"]}, {"cidr": "fd00:9::/64"}]},
]
PARSED = [parse(p) for p in POLS]
OUTSIDE = ["10.9.1.1", "10.5.0.7", "10.7.0.1", "fd00:9::5", "fd00:5::3", "fd00:7::1"]
PROBES = [(80, "tcp"), (8050, "tcp"), (8150, "tcp"), (53, "udp"), (443, "tcp"),
          (5432, "tcp"), (22, "tcp"), (9, "udp"), (0, "icmp")]


def _world(rng, n=8):
    members, policies = [], {}
    for i in range(n):
        if rng.random() < 0.25:
            continue                                  # not running now
        cid = f"c{i}"
        svc = rng.choice(["web", "db", ""])
        proj = rng.choice(["p", "q", ""])
        members.append(Member(cid, cid, svc, proj, "n", f"10.0.0.{i + 2}"))
        if rng.random() < 0.5:
            members.append(Member(cid, cid, svc, proj, "n", f"fd00::{i + 2}"))
        if rng.random() < 0.6:
            policies[cid] = PARSED[(i + rng.randrange(2)) % len(PARSED)]
    nets = {"back": ("10.5.0.0/24", "fd00:5::/64")} if rng.random() < 0.7 else {}
    return policies, members, nets


def kernel_allows(state, src, dst, port, proto) -> bool:
    """The verdict of the installed objects on a new connection, walked as the kernel does."""
    fam = 6 if ":" in src else 4
    p = l4proto(proto, fam)
    for d, addr, peer in (("in", dst, src), ("eg", src, dst)):
        chain = state["vmap"].get((d, fam, addr))
        if chain is None:
            continue
        ok = False
        for f, kind, pe, pr, lo, hi in state["chains"][chain]:
            if f != fam or pr != p or not (lo <= port <= hi or (lo, hi) == (0, 65535)):
                continue
            if kind == "group":
                hit = (fam, peer) in state["groups"][pe]
            else:
                hit = any(ipaddress.ip_address(peer) in ipaddress.ip_network(x) for x in pe)
            if hit:
                ok = True
                break
        if not ok:
            return False
    return True


def _check_change(state, ch):
    assert not set(ch.get("groups_add", ())) & set(state["groups"])
    assert set(ch.get("groups_del", ())) <= set(state["groups"])
    for g, f, ip in ch.get("members_del", ()):
        assert (f, ip) in state["groups"][g]
    assert not set(ch.get("chains_add", {})) & set(state["chains"])
    assert set(ch.get("chains_del", ())) <= set(state["chains"])
    assert set(ch.get("vmap_del", ())) <= set(state["vmap"])


def test_plan_means_what_compile_means_on_random_histories():
    for seed in range(30):
        rng = random.Random(seed)
        plan, state = Planner(), empty_state()
        for _ in range(15):
            policies, members, nets = _world(rng)
            ch = plan.update(policies, members, nets)
            _check_change(state, ch)
            policy_script(ch)                          # renders
            apply(state, ch)
            assert state == {"groups": plan.groups, "chains": plan.chains, "vmap": plan.vmap}
            el = compile_policies(policies, members, nets)
            ips = [m.ip for m in members]
            for src in ips + OUTSIDE:
                for dst in ips + OUTSIDE:
                    if (":" in src) != (":" in dst) or src == dst:
                        continue
                    for port, proto in PROBES:
                        want = explain(el, src, dst, port, proto).allowed
                        assert kernel_allows(state, src, dst, port, proto) == want, \
                            (seed, src, dst, port, proto)
        apply(state, plan.update({}, [], {}))
        assert plan.empty() and state == empty_state()


def test_a_new_replica_is_one_group_element_and_its_map_element():
    fleet = parse({"ingress": [{"service": "fleet", "ports": ["8000/tcp"]}],
                   "egress": [{"service": "fleet", "ports": ["8000/tcp"]}]})
    members = [Member(f"f{i}", f"f{i}", "fleet", "p", "n", f"10.1.0.{i + 2}") for i in range(50)]
    policies = {m.container_id: fleet for m in members}
    plan = Planner()
    plan.update(policies, members, {})
    assert len(plan.chains) == 2                      # one per direction, shared
    new = Member("f50", "f50", "fleet", "p", "n", "10.1.0.52")
    ch = plan.update({**policies, "f50": fleet}, members + [new], {})
    gid = group_id(group_key("service", "fleet", "p"))
    assert ch["members_add"] == [(gid, 4, "10.1.0.52")]
    assert sorted(ch["vmap_add"]) == [("eg", 4, "10.1.0.52"), ("in", 4, "10.1.0.52")]
    assert set(ch) == {"members_add", "vmap_add"}
    gone = plan.update(policies, members, {})        # removed: revoked in one change
    assert set(gone) == {"members_del", "vmap_del"}


def test_rendering():
    pol = {"a": parse({"ingress": [{"service": "web", "ports": ["80/tcp", "8000-8100/udp"]},
                                   {"cidr": "10.9.0.0/16"}]})}
    plan = Planner()
    ch = plan.update(pol, [Member("a", "a", "", "", "n", "10.0.0.2"),
                           Member("a", "a", "", "", "n", "fd00::2"),
                           Member("w", "w", "web", "", "n", "10.0.0.3")], {})
    (chain,) = plan.chains
    gid = group_id(("service", "web"))
    lines = policy_script(ch)
    assert lines[:4] == [f"add set inet boxnet {gid}4 {{ type ipv4_addr; }}",
                         f"add set inet boxnet {gid}6 {{ type ipv6_addr; }}",
                         f"add element inet boxnet {gid}4 {{ 10.0.0.3 }}",
                         f"add chain inet boxnet {chain}"]
    assert f"add rule inet boxnet {chain} ip saddr @{gid}4 meta l4proto tcp th dport 80 return" \
        in lines
    assert f"add rule inet boxnet {chain} ip6 saddr @{gid}6 meta l4proto udp th dport " \
        "8000-8100 return" in lines
    assert f"add rule inet boxnet {chain} ip saddr {{ 10.9.0.0/16 }} meta l4proto icmp " \
        "return" in lines
    assert lines[-3:] == [f"add rule inet boxnet {chain} jump poldrop",
                          f"add element inet boxnet pvin4 {{ 10.0.0.2 : jump {chain} }}",
                          f"add element inet boxnet pvin6 {{ fd00::2 : jump {chain} }}"]
    st = empty_state()
    apply(st, ch)
    assert policy_script(as_change(st)) == lines
