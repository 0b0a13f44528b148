"""Scenario: the tools users already have (issue 6).

- Round trip of `docker network ls` and `docker network inspect` through the
  real docker CLI, against boxnetd and against Docker's daemon in the same run
  (same CLI binary, DOCKER_HOST pointed at each socket; process start included).
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


def _cli_round_trips(ctx: Context, peer, reps: int, cfg: str) -> None:
    env = dict(os.environ, DOCKER_HOST=f"unix://{peer.sock}", DOCKER_CONFIG=cfg)
    net = peer.create_network("cl-inspect")
    for key, label, argv in (("cli_ls", "`docker network ls`", ["network", "ls"]),
                             ("cli_inspect", "`docker network inspect`",
                              ["network", "inspect", "cl-inspect"])):
        times = []
        for i in range(reps + 1):
            t0 = time.perf_counter()
            subprocess.run([DOCKER, *argv], env=env, check=True, capture_output=True)
            if i:
                times.append((time.perf_counter() - t0) * MS)
        ctx.metric(key, label + " round trip (real CLI)", "ms", peer.name, times)
    peer.remove_network(net)


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
        for name in ("boxnet", "docker"):
            with ctx.peer(name) as peer:
                if peer is None:
                    continue
                if os.access(DOCKER, os.X_OK):
                    _cli_round_trips(ctx, peer, reps, cfg)
                else:
                    ctx.skip(name + "-cli", f"docker CLI not installed ({DOCKER})")
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
