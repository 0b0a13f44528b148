"""Scenario 13, churn: does the daemon give back what a lifecycle took?

One cycle is: network create, `run -d busybox sleep` (default bridge), connect it to the new
network, disconnect it, `rm -f`, network rm. 1000 cycles (quick: 200) against boxnetd, one
after the other over one keep-alive connection. Along the way: the daemon process's RSS and
its open file descriptors every few cycles, and the time of each cycle.

The goals compare the daemon with itself: RSS after the last cycle within 5 MiB of its RSS
after the first 50 (a leak grows with the cycles; what the first cycles allocate once, caches
and the events ring, is not one), and the open descriptors back where they started. Both
readings are taken once the daemon is idle (its background link deletions are deferred up to
2 s), the curve is read as it goes. Docker is not churned here: the goal is boxnet's own
flatness, and 1000 Docker cycles alone take about 15 minutes.
"""

from __future__ import annotations

import os
import time

from bench.context import Context
from bench.peers.host import rss_kib

NAME = "churn"
TITLE = "13. Memory under churn (network create, run, connect, disconnect, rm, network rm)"
MS = 1000.0
SETTLE = 2.5      # s: past linkgc's MAX_DEFER, so every deferred deletion has run
BASE_CYCLE = 50   # the reference point of the RSS goal


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _cycle(peer, i: int) -> None:
    _, net = peer.net_create(f"churn-{i}", i)
    cid = peer.run_container(f"churn-{i}", "bridge")
    peer.connect(net, cid)
    peer.disconnect(net, cid)
    peer.remove_container(cid)
    peer.remove_network(net)


def _settled(pid: int) -> tuple[float, int]:
    time.sleep(SETTLE)
    return rss_kib(pid) / 1024, _fds(pid)


def _churn(ctx: Context, peer, cycles: int, step: int) -> dict:
    pid = peer.proc.pid   # nsenter execs the daemon: the same process
    _cycle(peer, 0)       # warm-up: first network, first container, first connect
    rss0, fds0 = _settled(pid)
    ctx.value("churn_rss", "daemon RSS along the cycles", "MiB", peer.name, 0, rss0)
    ctx.value("churn_fds", "daemon open file descriptors along the cycles", "fds",
              peer.name, 0, fds0)
    times, base = [], None
    for i in range(1, cycles + 1):
        t0 = time.perf_counter()
        _cycle(peer, i)
        times.append((time.perf_counter() - t0) * MS)
        if i == BASE_CYCLE:
            base = _settled(pid)
        if i % step == 0 or i == cycles:
            ctx.value("churn_rss", "daemon RSS along the cycles", "MiB", peer.name, i,
                      rss_kib(pid) / 1024)
            ctx.value("churn_fds", "daemon open file descriptors along the cycles", "fds",
                      peer.name, i, _fds(pid))
    end = _settled(pid)
    ctx.curve("churn_cycle", "time of one churn cycle", "ms", peer.name, times,
              xlabel="cycle #")
    ctx.metric("churn_cycle_ms", "one cycle (6 API calls)", "ms", peer.name, times)
    return {"rss0": rss0, "fds0": fds0, "base": base, "end": end}


def run(ctx: Context) -> dict:
    """Run scenario 13 against boxnet; return its results."""
    res = ctx.begin(NAME, TITLE)
    cycles = ctx.pick(200, 1000)
    r = None
    with ctx.peer("boxnet") as peer:
        if peer is not None:
            r = _churn(ctx, peer, cycles, ctx.pick(25, 50))
    full = cycles >= 1000
    growth = fd_delta = None
    detail = "boxnet not measured"
    if r is not None and r["base"] is not None:
        growth = r["end"][0] - r["base"][0]
        fd_delta = r["end"][1] - r["fds0"]
        detail = (f"RSS {r['rss0']:.1f} MiB after the warm-up, {r['base'][0]:.1f} after "
                  f"{BASE_CYCLE} cycles, {r['end'][0]:.1f} after {cycles}; "
                  f"{growth * 1000 / (cycles - BASE_CYCLE):.1f} MiB per 1000 cycles")
    ctx.goal(f"daemon RSS after 1000 cycles within 5 MiB of after the first {BASE_CYCLE}",
             growth, 5.0, measured=full and growth is not None,
             detail=detail if full else f"quick mode stops at {cycles} cycles: {detail}")
    ctx.goal("daemon open file descriptors back where they started (end minus start <= 0)",
             fd_delta, 0, measured=fd_delta is not None,
             detail="" if r is None else f"{r['fds0']} after the warm-up, {r['end'][1]} "
             f"after {cycles} cycles")
    ctx.note("RSS and descriptors are those of the boxnetd process itself (its short-lived "
             f"helpers are not counted); the goal readings are taken {SETTLE} s after the "
             "last request, when no deferred work is pending.")
    return res
