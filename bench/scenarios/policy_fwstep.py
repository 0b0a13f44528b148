"""The firewall step of a policy change, against the firewall step of one published port.

Part of the policy scenario (bench/scenarios/policy.py): the goal "policy change for
one container: at most 2x adding one published port" compares the firewall's own
work, not a whole `run -d` (whose create, netns, veth and runc dominate both).
boxnet's NftFirewall, in a bench netns, holds the policy scenario's 100 policies
(98 replicas of service `fleet`, the iperf pair); then, `reps` times each:

* policy step: what PolicyKeeper.refresh does when one more `fleet` replica with
  a policy starts (its sandbox_ready names that container): the plan brought up
  to date for that container (policy/plan.py ``Planner.update_containers``: its
  chains, map keys and group elements against the reference counts kept, not
  every policy and member; the state after the initial full ``Planner.update``)
  and the difference applied in one nft transaction (NftFirewall.update_policy), timed;
  then the replica removed the same way (untimed); and the same for a container
  with a policy of its own which is no replica (a new chain, and a new group:
  outside compose, its `service` rule means the service of any project); and a
  replica carrying replica f0's very policy, as compose's replicas do (its chains
  exist: one group element and its map elements);
* port step: NftFirewall.add_ports of one published port (DNAT map elements and
  the direct-access set element, one transaction), timed; then removed (untimed).

Interfaces need not exist for nftables' sets, so no container runs (as fwscale).
Both steps run as in boxnetd: on one event loop, in a thread inside the bench
netns, the firewall's libnftables context and sysctls direct (no per-call hop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

NET = "pol-net"
SUBNET = "10.200.0.0/16"


def _ip(i: int) -> str:
    return f"10.200.{i // 250}.{2 + i % 250}"


def world():
    """(policies, members, networks) of the policy scenario's 100 policies."""
    from boxnet.policy.compile import Member
    from boxnet.policy.model import parse
    members, policies = [], {}
    for i in range(98):
        cid = f"f{i}"
        members.append(Member(cid, f"pf-{i}", "fleet", "benchp", NET, _ip(i)))
        policies[cid] = parse({
            "ingress": [{"service": "fleet", "ports": ["8000/tcp", "9000/tcp"]}],
            "egress": [{"service": "fleet", "ports": ["8000/tcp"]},
                       {"cidr": f"10.{i % 250}.0.0/16", "ports": ["443"]}]})
    members += [Member("srv", "pp-srv", "", "", NET, _ip(98)),
                Member("cli", "pp-cli", "", "", NET, _ip(99))]
    policies["srv"] = parse({"ingress": [{"container": "pp-cli", "ports": ["5201/tcp"]}]})
    policies["cli"] = parse({"egress": [{"container": "pp-srv", "ports": ["5201/tcp"]}]})
    return policies, members, {NET: (SUBNET,)}


def _size(plan) -> int:
    """Objects the firewall holds: group members, chain rules, map elements."""
    return (sum(map(len, plan.groups.values())) + sum(len(r) + 1 for r in plan.chains.values())
            + len(plan.vmap))


def measure(reps: int):
    """(policy step ms list, port step ms list, elements before, elements after,
    policy step ms list for a container that is no replica of the meshed service,
    the same for a replica of a present policy)."""
    import threading

    from bench.peers.host import BenchHost
    from boxnet.kernel import netns as kns

    host = BenchHost("polfw")
    host.create()
    box: dict = {}

    def in_bench_netns():
        # As boxnetd runs: the whole process in its netns, so its libnftables
        # context and its sysctl writes are direct.  An NftFirewall(netns=...)
        # from outside would pay a thread hop for every nft call and sysctl write
        # (~0.1-0.15 ms each), which the daemon never does.
        try:
            fd = os.open(host.netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                kns.setns_fd(fd)
            finally:
                os.close(fd)
            box["r"] = asyncio.run(_steps(reps))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["e"] = exc

    try:
        t = threading.Thread(target=in_bench_netns, name="polfw")
        t.start()
        t.join()
        if "e" in box:
            raise box["e"]
        return box["r"]
    finally:
        host.teardown()


async def _steps(reps: int):
    """measure()'s timings, in the bench netns's thread, on one event loop."""
    from boxnet.firewall.api import FirewallNetwork, PublishedPort
    from boxnet.firewall.nft.manager import NftFirewall
    from boxnet.policy.compile import Member
    from boxnet.policy.model import parse
    from boxnet.policy.plan import Planner

    logging.getLogger("boxnet.firewall").setLevel(logging.ERROR)
    policies, members, nets = world()
    newcomer = Member("q", "tq-0", "fleet", "benchp", NET, _ip(100))
    pol = parse({"ingress": [{"service": "fleet", "ports": ["8000/tcp"]}]})
    port = PublishedPort(container_id="p", family=4, proto="tcp", host_ip="", host_port=18080,
                         container_ip=_ip(101), container_port=80)
    fw = NftFirewall()
    await fw.sync([FirewallNetwork(network_id="b" * 64, bridge="br-polfw", subnets=(SUBNET,))])
    inc = Planner()
    await fw.update_policy(inc.update(policies, members, nets))
    before = _size(inc)
    pol_ms, port_ms, one_ms, twin_ms, after = [], [], [], [], before
    loner = Member("q", "tq-0", "", "", NET, _ip(100))   # not a replica: its own group
    twin = Member("q", "pf-98", "fleet", "benchp", NET, _ip(100))   # f0's very policy

    async def step(out: list, p, extra: Member) -> None:
        # as the keeper on container q's event: q's policy and addresses now
        t0 = time.perf_counter()
        await fw.update_policy(inc.update_containers({"q": (p, [extra])}, nets))
        out.append((time.perf_counter() - t0) * 1000)

    async def gone() -> None:     # q stopped (untimed)
        await fw.update_policy(inc.update_containers({"q": (None, [])}, nets))

    for _ in range(reps):
        await step(one_ms, pol, loner)
        await gone()
        await step(pol_ms, pol, newcomer)
        after = _size(inc)
        await gone()
        await step(twin_ms, policies["f0"], twin)
        await gone()
        t0 = time.perf_counter()
        await fw.add_ports([port])
        port_ms.append((time.perf_counter() - t0) * 1000)
        await fw.remove_ports([port])
    await fw.teardown()
    return pol_ms, port_ms, before, after, one_ms, twin_ms
