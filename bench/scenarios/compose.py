"""Scenario 5, compose: `up -d` and `down` of the seed example (proxy, app, db on two networks).

boxnet is driven by `boxnet compose`; Docker's daemon by Debian's `docker-compose` (1.29,
the Python v1 tool: package docker-compose), each CLI against its own daemon's socket in
its own bench netns, same file (v1 does not know the top-level `name:` key, so both get a
copy without it and `-p benchseed`). Timed around the whole CLI process, start-up
included, as a user sees it (with byte code, as for any installed Python program:
scripts/install.sh compiles boxnet's, Debian's docker-compose ships its own). `down -t 0` for both: the busybox stand-ins ignore SIGTERM
as PID 1, so a grace period would only measure the timeout. Before each `up`, both tools
must leave no container of the project; after it, all three must be running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.context import Context
from bench.stats import ratio

NAME = "compose"
TITLE = "5. compose up -d / down (seed example)"
MS = 1000.0
SEED = Path(__file__).resolve().parents[2] / "examples" / "compose-seed" / "compose.yaml"
PROJECT = "benchseed"


def _seed_copy(tmp: str) -> str:
    text = SEED.read_text().replace("name: seed\n", "")
    path = os.path.join(tmp, "docker-compose.yml")
    Path(path).write_text(text)
    return path


def _argv(peer, file: str) -> tuple[list[str], dict]:
    env = dict(os.environ)
    if peer.name == "boxnet":
        exe = str(Path(sys.executable).with_name("boxnet"))
        return [exe, "-H", f"unix://{peer.sock}", "compose", "-f", file, "-p", PROJECT], env
    env["DOCKER_HOST"] = f"unix://{peer.sock}"
    env["COMPOSE_INTERACTIVE_NO_CLI"] = "1"
    return ["docker-compose", "--no-ansi", "-f", file, "-p", PROJECT], env


def _timed(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                       stdin=subprocess.DEVNULL)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} exited {r.returncode}: "
                           f"{(r.stderr or r.stdout).strip()[-300:]}")
    return t


def _running(peer) -> int:
    return sum(1 for c in peer.list_containers() or []
               if (c.get("Labels") or {}).get("com.docker.compose.project") == PROJECT)


def _measure(ctx: Context, peer, file: str, reps: int) -> None:
    base, env = _argv(peer, file)
    ups, downs = [], []
    for i in range(reps + 1):
        t_up = _timed(base + ["up", "-d"], env)
        n = _running(peer)
        if n != 3:
            ctx.note(f"{peer.name}: {n} of 3 containers running after `up -d` (rep {i})")
        t_down = _timed(base + ["down", "-t", "0"], env)
        if _running(peer):
            ctx.note(f"{peer.name}: containers left after `down` (rep {i})")
        if i:  # the first round is the warm-up
            ups.append(t_up * MS)
            downs.append(t_down * MS)
    ctx.metric("compose_up", "`compose up -d` of the seed example", "ms", peer.name, ups)
    ctx.metric("compose_down", "`compose down` of the seed example", "ms", peer.name, downs)


def run(ctx: Context) -> dict:
    """Run scenario 5 against boxnet and Docker (docker-compose); return its results."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(5, 15)
    with tempfile.TemporaryDirectory(prefix="bxt-bench-compose-") as tmp:
        file = _seed_copy(tmp)
        with ctx.peer("boxnet") as peer:
            if peer is not None:
                _measure(ctx, peer, file, reps)
        if shutil.which("docker-compose") is None:
            ctx.skip("docker", "docker-compose not installed (apt-get install docker-compose)")
        else:
            with ctx.peer("docker") as peer:
                if peer is not None:
                    _measure(ctx, peer, file, reps)
    m = ctx.median_of
    ctx.goal("`compose up -d`: at most a quarter of Docker's (docker-compose)",
             ratio(m("compose_up", "boxnet"), m("compose_up", "docker")), 0.25)
    ctx.goal("`compose down`: at most a quarter of Docker's (docker-compose)",
             ratio(m("compose_down", "boxnet"), m("compose_down", "docker")), 0.25)
    ctx.note("Both timed around the CLI process (Python start-up included for both: "
             "boxnet compose and docker-compose 1.29 are Python programs). Same file, "
             "same project name, `down -t 0`.")
    return res
