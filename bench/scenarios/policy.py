"""Least-privilege policy (issue 20): the data plane with 100 policies, and the cost of
a policy change for one container.

boxnet only (no peer has policies).  Data plane: iperf3 between two containers of one
bridge network with no policy anywhere, then between two containers of the same network
whose own policies allow exactly that flow (server: ingress from the client on 5201/tcp;
client: egress to the server on 5201/tcp) with 98 more policied containers present, so
100 policies are in the sets.  Policy change: `run -d` (create + start) of a container
whose policy names the service of the 100, against `run -d` of the same container with
one published port and no policy; each run removed before the next; and the firewall
step of each alone (bench/scenarios/policy_fwstep.py), which the goal compares.
"""

from __future__ import annotations

import json
import time

from bench.context import Context
from bench.scenarios.dataplane import PORT, iperf
from bench.stats import ratio

NAME = "policy"
TITLE = "20. Least-privilege policy (group sets, verdict maps keyed by endpoint)"
NET = "pol-net"
SVC = {"com.docker.compose.project": "benchp", "com.docker.compose.service": "fleet"}


def _label(**d) -> dict:
    return {"com.boxnet.policy": json.dumps(d)}


def _run(peer, name: str, labels: dict | None = None, ports: dict | None = None) -> str:
    hc = {"NetworkMode": NET}
    if ports:
        hc["PortBindings"] = ports
    cid = peer.api.request("POST", "/containers/create", query={"name": name}, body={
        "Image": "busybox:latest", "Cmd": ["sleep", "3600"], "Labels": labels or {},
        "HostConfig": hc})["Id"]
    peer.api.request("POST", f"/containers/{cid}/start")
    return cid


def _rm(peer, cid: str) -> None:
    peer.api.request("DELETE", f"/containers/{cid}", query={"force": "1"})


def _timed_runs(peer, prefix: str, count: int, **kw) -> list[float]:
    out = []
    for i in range(count):
        t0 = time.perf_counter()
        cid = _run(peer, f"{prefix}-{i}", **kw)
        out.append((time.perf_counter() - t0) * 1000)
        _rm(peer, cid)
    return out


def run(ctx: Context) -> dict:
    """Run the policy scenario against boxnet; return its results."""
    res = ctx.begin(NAME, TITLE)
    secs = ctx.pick(3, 10)
    reps = ctx.repetitions(1, 3)
    n_ops = ctx.pick(8, 20)
    with ctx.peer("boxnet") as peer:
        if peer is None:
            return res
        peer.net_create(NET, 0)
        a = _run(peer, "pa-srv")
        b = _run(peer, "pa-cli")
        ctx.metric("c2c_none", "container to container, no policy", "Gbit/s", "boxnet",
                   sum((iperf(peer.container_netns(a), peer.container_netns(b),
                              peer.container_ip(a, NET), secs) for _ in range(reps)), []),
                   higher_is_better=True)
        for i in range(98):   # 98 policied containers: ingress from their own service
            _run(peer, f"pf-{i}", {**SVC, **_label(
                ingress=[{"service": "fleet", "ports": ["8000/tcp", "9000/tcp"]}],
                egress=[{"service": "fleet", "ports": ["8000/tcp"]},
                        {"cidr": f"10.{i % 250}.0.0/16", "ports": ["443"]}])})
        srv = _run(peer, "pp-srv", _label(
            ingress=[{"container": "pp-cli", "ports": [f"{PORT}/tcp"]}]))
        cli = _run(peer, "pp-cli", _label(
            egress=[{"container": "pp-srv", "ports": [f"{PORT}/tcp"]}]))
        # the policied pair and the first pair (no policy of its own, the 100 now
        # present) alternate: a drift of the machine shows in both, a policy's cost
        # in the first only
        pol_runs, after_runs = [], []
        for _ in range(max(reps, 2)):
            pol_runs += iperf(peer.container_netns(srv), peer.container_netns(cli),
                              peer.container_ip(srv, NET), secs)
            after_runs += iperf(peer.container_netns(a), peer.container_netns(b),
                                peer.container_ip(a, NET), secs)
        ctx.metric("c2c_policy100", "container to container, 100 policies (its own included)",
                   "Gbit/s", "boxnet", pol_runs, higher_is_better=True)
        ctx.metric("c2c_none_after", "container to container, no policy of its own, the 100 "
                   "present (alternated with the line above)", "Gbit/s", "boxnet", after_runs,
                   higher_is_better=True)
        ctx.metric("run_port", "run -d with one published port (no policy)", "ms", "boxnet",
                   _timed_runs(peer, "tp", n_ops, ports={"80/tcp": [{"HostPort": ""}]}))
        ctx.metric("run_policy", "run -d with a policy (100 present)", "ms", "boxnet",
                   _timed_runs(peer, "tq", n_ops, labels={**SVC, **_label(
                       ingress=[{"service": "fleet", "ports": ["8000/tcp"]}])}))
    from bench.scenarios import policy_fwstep
    pol_ms, port_ms, before, after, one_ms, twin_ms = policy_fwstep.measure(
        ctx.repetitions(20, 50))
    ctx.metric("fw_port", "firewall step: add one published port (100 policies present)",
               "ms", "boxnet", port_ms)
    ctx.metric("fw_policy", "firewall step: one more policied replica of the meshed service "
               "(the keeper's incremental plan update of that container + one nft transaction)", "ms", "boxnet",
               pol_ms)
    ctx.metric("fw_policy_one", "firewall step: one more policied container naming the "
               "service, no replica of it", "ms", "boxnet", one_ms)
    ctx.metric("fw_policy_twin", "firewall step: one more replica with a present replica's "
               "very policy (compose's case: its chains exist)", "ms", "boxnet", twin_ms)
    m = ctx.median_of
    ctx.goal("data plane with 100 policies: at least 95% of none",
             ratio(m("c2c_policy100", "boxnet"), m("c2c_none", "boxnet")), 0.95,
             higher_is_better=True)
    ctx.goal("policy change for one container: at most 2x adding one published port "
             "(the firewall step)", ratio(m("fw_policy", "boxnet"), m("fw_port", "boxnet")), 2.0,
             detail=f"{before} policy objects before, {after} after the change")
    ctx.note("run_policy/run_port: the whole `run -d` of each, for context (create, netns, "
             "veth and runc dominate both); the goal compares the firewall steps themselves "
             "(bench/scenarios/policy_fwstep.py: the keeper's update + nft transaction for "
             "a policy, add_ports for a port, in a bench netns holding the same 100 policies).")
    ctx.note("c2c_none_after: the first (unpolicied) pair again once the 100 policies exist, "
             "alternated with the policied pair: compare c2c_policy100 with it too (a drift "
             "of the shared machine shows in both).")
    ctx.note(f"iperf3 TCP, one stream, -t {secs}, {reps} run(s) per point. The policy is "
             "judged on a connection's first packet (after ct established) by one verdict "
             "map lookup per direction and the rules of its own endpoint's chain, so the "
             f"per-packet cost does not depend on how many policies there are. run -d timings: {n_ops} runs each, create + start, removed after.")
    return res
