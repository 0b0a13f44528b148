"""Scenario: the tools users already have (issue 6).

- Round trip of `docker network ls` and `docker network inspect` through the
  real docker CLI, against boxnetd and against Docker's daemon in the same run
  (same CLI binary, DOCKER_HOST pointed at each socket; process start included;
  both daemons up together and the calls interleaved, so drift hits both alike).
- API requests per second for `GET /networks` with 100 user networks, one
  keep-alive connection, boxnet and Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

from bench.context import Context
from bench.stats import ratio

NAME = "clients"
TITLE = "6. Clients: docker CLI and Engine API"
MS = 1000.0
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def _cli_round_trips(ctx: Context, peers: list, reps: int, cfg: str) -> None:
    """Both daemons up at once, the CLI calls interleaved (boxnet, docker, boxnet, ...):
    a drift of the machine over the run (load, frequency) then hits both alike instead of
    whichever peer happened to run second."""
    envs = {p.name: dict(os.environ, DOCKER_HOST=f"unix://{p.sock}", DOCKER_CONFIG=cfg)
            for p in peers}
    nets = {p.name: p.create_network("cl-inspect") for p in peers}
    for key, label, argv in (("cli_ls", "`docker network ls`", ["network", "ls"]),
                             ("cli_inspect", "`docker network inspect`",
                              ["network", "inspect", "cl-inspect"])):
        times: dict[str, list[float]] = {p.name: [] for p in peers}
        for i in range(reps + 1):
            order = peers if i % 2 else peers[::-1]
            for p in order:
                t0 = time.perf_counter()
                subprocess.run([DOCKER, *argv], env=envs[p.name], check=True,
                               capture_output=True)
                if i:
                    times[p.name].append((time.perf_counter() - t0) * MS)
        for p in peers:
            ctx.metric(key, label + " round trip (real CLI)", "ms", p.name, times[p.name])
    for p in peers:
        p.remove_network(nets[p.name])


def _list_rate(ctx: Context, peer, seconds: float) -> None:
    made = [peer.create_network(f"cl-rate-{i}", f"10.{200 + i // 250}.{i % 250}.0/24")
            for i in range(100)]
    try:
        peer.api.request("GET", "/networks")  # warm-up
        rates = []
        for _ in range(3):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                peer.api.request("GET", "/networks")
                n += 1
            rates.append(n / (time.perf_counter() - t0))
        ctx.metric("list_rps", "GET /networks with 100 networks", "req/s", peer.name, rates,
                   higher_is_better=True)
    finally:
        for net in made:
            peer.remove_network(net)


def run(ctx: Context) -> dict:
    """Run the scenario against boxnet and Docker; return its results."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(10, 40)
    seconds = ctx.pick(1.0, 3.0)
    cfg = tempfile.mkdtemp(prefix="bench-dockercfg-")
    try:
        with ctx.peer("boxnet") as bx, ctx.peer("docker") as dk:
            peers = [p for p in (bx, dk) if p is not None]
            if not os.access(DOCKER, os.X_OK):
                ctx.skip("cli", f"docker CLI not installed ({DOCKER})")
            elif peers:
                _cli_round_trips(ctx, peers, reps, cfg)
            for peer in peers:
                _list_rate(ctx, peer, seconds)
    finally:
        shutil.rmtree(cfg, ignore_errors=True)
    m = ctx.median_of
    ctx.goal("`docker network ls` via boxnet: at most Docker's time",
             ratio(m("cli_ls", "boxnet"), m("cli_ls", "docker")), 1.0)
    ctx.goal("`docker network inspect` via boxnet: at most Docker's time",
             ratio(m("cli_inspect", "boxnet"), m("cli_inspect", "docker")), 1.0)
    ctx.note("CLI round trips include the docker process start (same binary for both "
             "daemons); GET /networks rate is one client on one keep-alive connection.")
    return res
