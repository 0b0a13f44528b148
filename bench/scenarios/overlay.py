"""Scenario: overlay networks across hosts (issue 9).

Two boxnet hosts (host netns on a test underlay, each with its own boxnetd) and one
etcd, built by tests/integration/multihost.py (the same fixtures as the tests).

- cross-host TCP throughput (iperf3 over VXLAN) against same-host bridge throughput;
- attach latency (``network connect`` of a created container) on the overlay against a
  local bridge network (the overlay pays the etcd claim and record);
- convergence: from the ``start`` request on host A to the new endpoint's FDB entry on
  host B (so it includes A's own attach), with 1, 10 and 100 endpoints per host already
  on the network.
For comparison, Docker's swarm overlay ``run`` latency (one node, swarm on loopback).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.context import Context
from bench.scenarios.dataplane import iperf

NAME = "overlay"
TITLE = "9. Overlay across hosts (VXLAN + etcd)"
ROOT = Path(__file__).resolve().parents[2]


def _multihost():
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from integration import multihost
    return multihost


def _run(h, name: str, net: str, mac: str = "", start: bool = True) -> str:
    body = {"Image": "busybox", "Cmd": ["sleep", "3600"], "HostConfig": {"NetworkMode": net}}
    if mac:
        body["NetworkingConfig"] = {"EndpointsConfig": {net: {"MacAddress": mac}}}
    cid = h.api_ok("POST", f"/containers/create?name={name}", json=body)["Id"]
    if start:
        h.api_ok("POST", f"/containers/{cid}/start")
    return cid


def _sandbox(h, name: str) -> str:
    return h.inspect(name)["NetworkSettings"]["SandboxKey"]


def _fdb_waiter(h, dev: str, mac: str) -> subprocess.Popen:
    """A busy loop in host ``h`` that prints the wall-clock time (ns) at which ``mac``
    is in ``dev``'s FDB, then exits."""
    return subprocess.Popen(["nsenter", f"--net={h.netns}", "sh", "-c",
                             f"until bridge fdb show dev {dev} | grep -q {mac}; do :; done; "
                             f"date +%s%N"], stdout=subprocess.PIPE, text=True)


def _convergence(ctx, a, b, dev: str, per_host: int, have: int,
                 reps: int) -> tuple[list[float], list[float]]:
    """Fill to ``per_host`` endpoints per host, then time ``reps`` new endpoints:
    (start request to FDB entry on B, start request's own latency), in ms."""
    for i in range(have, per_host):
        _run(a, f"fa{i}", "ovb")
        _run(b, f"fb{i}", "ovb")
    out, starts = [], []
    for r in range(reps):
        mac = f"02:42:0b:{per_host % 256:02x}:{r // 256:02x}:{r % 256:02x}"
        cid = _run(a, f"cv{per_host}-{r}", "ovb", mac=mac, start=False)
        w = _fdb_waiter(b, dev, mac)
        time.sleep(0.05)
        t0 = time.time()
        a.api_ok("POST", f"/containers/{cid}/start")
        starts.append((time.time() - t0) * 1000)
        try:
            seen, _ = w.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
            raise RuntimeError(f"endpoint {mac} never reached host B")
        out.append(int(seen.strip()) / 1e6 - t0 * 1000)
        a.api_ok("DELETE", f"/containers/{cid}?force=1")
    return out, starts


def _attach(ctx, h, net: str, reps: int, tag: str) -> list[float]:
    out = []
    for i in range(reps):
        cid = _run(h, f"at-{tag}-{i}", "bridge")
        t0 = time.perf_counter()
        h.api_ok("POST", f"/networks/{net}/connect", json={"Container": cid})
        out.append((time.perf_counter() - t0) * 1000)
        h.api_ok("DELETE", f"/containers/{cid}?force=1")
    return out


def _timed_runs(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _docker_swarm(ctx, n: int) -> None:
    """Docker's swarm overlay (one node, swarm on loopback in its bench netns): run latency."""
    with ctx.peer("docker") as peer:
        if peer is None:
            return
        peer.api.request("POST", "/swarm/init", body={"ListenAddr": "127.0.0.1:2377",
                                                      "AdvertiseAddr": "127.0.0.1"})
        try:
            peer.api.request("POST", "/networks/create", body={
                "Name": "ovd", "Driver": "overlay", "Attachable": True})
            peer.run_container("warm", "ovd")   # the first one also creates the overlay sandbox
            ctx.metric("run_overlay", "run -d (create + start) on an overlay", "ms", "docker",
                       _timed_runs(lambda i: peer.run_container(f"ro{i}", "ovd"), n))
        finally:
            for c in peer.list_containers() or []:
                peer.remove_container(c["Id"])
            peer.api.request("POST", "/swarm/leave", query={"force": 1})


def run(ctx: Context) -> dict:
    """Run the overlay scenario (boxnet only); return its results."""
    res = ctx.begin(NAME, TITLE)
    if ctx.only_peers is not None and "boxnet" not in ctx.only_peers:
        ctx.skip("boxnet", "not selected")
        return res
    mh = _multihost()
    secs, reps = ctx.pick(3, 10), ctx.repetitions(2, 3)
    cl = mh.Cluster(hosts=2, etcd_nodes=1, ttl=10)
    try:
        a, b = cl.hosts
        a.cli("network", "create", "-d", "overlay", "ovb")
        a.cli("network", "create", "brb")
        mh.wait_for(lambda: b.api("GET", "/networks/ovb")[0] == 200, what="ovb on b")
        dev = "vx-" + a.network("ovb")["Id"][:12]
        # throughput: cross-host overlay vs same-host bridge
        _run(a, "srv", "ovb")
        _run(b, "cli", "ovb")
        ip = a.ip_of("srv", "ovb")
        ctx.metric("xhost_tcp", "cross-host TCP over the overlay", "Gbit/s", "boxnet",
                   sum((iperf(_sandbox(a, "srv"), _sandbox(b, "cli"), ip, secs)
                        for _ in range(reps)), []), higher_is_better=True)
        _run(a, "bsrv", "brb")
        _run(a, "bcli", "brb")
        ctx.metric("bridge_tcp", "same-host TCP on a bridge", "Gbit/s", "boxnet",
                   sum((iperf(_sandbox(a, "bsrv"), _sandbox(a, "bcli"), a.ip_of("bsrv", "brb"),
                              secs) for _ in range(reps)), []), higher_is_better=True)
        n = ctx.repetitions(10, 30)
        ctx.metric("run_overlay", "run -d (create + start) on an overlay", "ms", "boxnet",
                   _timed_runs(lambda i: _run(a, f"ro{i}", "ovb"), n))
        ctx.metric("attach_overlay", "network connect, overlay", "ms", "boxnet",
                   _attach(ctx, a, "ovb", n, "o"))
        ctx.metric("attach_bridge", "network connect, local bridge", "ms", "boxnet",
                   _attach(ctx, a, "brb", n, "b"))
        have = 1  # srv/cli are already on the overlay, one per host
        for per_host in ctx.pick((1, 10), (1, 10, 100)):
            vals, starts = _convergence(ctx, a, b, dev, per_host, have, ctx.repetitions(5, 10))
            have = max(have, per_host)
            ctx.metric(f"converge_{per_host}", f"convergence, {per_host} endpoint(s)/host", "ms",
                       "boxnet", vals)
            ctx.metric(f"start_{per_host}", f"start on host A alone, {per_host} endpoint(s)/host",
                       "ms", "boxnet", starts)
    finally:
        cl.teardown()
    _docker_swarm(ctx, ctx.repetitions(10, 30))
    m = ctx.median_of
    x, br = m("xhost_tcp", "boxnet"), m("bridge_tcp", "boxnet")
    ctx.goal("cross-host overlay throughput at least 30% of same-host bridge",
             (x / br) if x and br else None, 0.3, higher_is_better=True,
             detail="VXLAN over a veth underlay on one VM: both ends share the 2 cores")
    ctx.goal("a new endpoint reachable from the other host within 1 s (100 endpoints/host)",
             m("converge_100", "boxnet"), 1000.0, measured=not ctx.quick)
    ctx.note("Docker: dockerd 'swarm init' on 127.0.0.1 in its own bench netns, one node; "
             "its overlay `run` is compared with boxnet's (boxnet's includes the etcd claim).")
    ctx.note("Convergence = start request on host A to FDB entry on host B (includes the "
             "attach on A: claim, veth, etcd record; then B's watch and netlink).")
    return res
