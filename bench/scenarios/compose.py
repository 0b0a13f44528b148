"""Scenario 5, compose: `up -d` and `down` of the seed example (proxy, app, db on two networks).

boxnet is driven by `boxnet compose`; Docker's daemon by the `docker compose` v2 binary (Go,
scripts/install-compose.sh puts it at .venv/bin/docker-compose) and, when installed, by
Debian's `docker-compose` 1.29 (the Python v1 tool: package docker-compose). Each CLI talks
to its own daemon's socket in its own bench netns, same file (v1 does not know the top-level
`name:` key, so all get a copy without it and `-p benchseed`). Timed around the whole CLI
process, start-up included, as a user sees it (with byte code, as for any installed Python
program: scripts/install.sh compiles boxnet's; the scenario compiles the package the
`boxnet` it runs imports too, since a clone measured with PYTHONPATH has none and this
machine sets PYTHONDONTWRITEBYTECODE: every run would recompile every module, ~60 ms).
The v2 binary also drives boxnetd, for
reference (row "boxnet (compose v2)"). `down -t 0` for all: the busybox stand-ins ignore
SIGTERM as PID 1, so a grace period would only measure the timeout. Before each `up`, no
container of the project is left; after it, all three must be running.
"""

from __future__ import annotations

import os
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


COMPOSE_V2 = Path(sys.executable).with_name("docker-compose")   # scripts/install-compose.sh
COMPOSE_V1 = "/usr/bin/docker-compose"                          # Debian's docker-compose 1.29


def _argv(peer, file: str, tool: str) -> tuple[list[str], dict]:
    """The command line of `tool` ("boxnet", "v2" or "v1") against peer's socket."""
    env = dict(os.environ)
    if tool == "boxnet":
        exe = str(Path(sys.executable).with_name("boxnet"))
        return [exe, "-H", f"unix://{peer.sock}", "compose", "-f", file, "-p", PROJECT], env
    env["DOCKER_HOST"] = f"unix://{peer.sock}"
    if tool == "v2":
        return [str(COMPOSE_V2), "--ansi", "never", "-f", file, "-p", PROJECT], env
    env["COMPOSE_INTERACTIVE_NO_CLI"] = "1"
    return [COMPOSE_V1, "--no-ansi", "-f", file, "-p", PROJECT], env


def _byte_code(env: dict) -> None:
    """Compile the boxnet package that `boxnet` imports under env (as installed)."""
    where = subprocess.run([sys.executable, "-c", "import boxnet, os; "
                            "print(os.path.dirname(boxnet.__file__))"], env=env,
                           capture_output=True, text=True, timeout=60).stdout.strip()
    if where:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", where],
                       env=env, capture_output=True, timeout=300)


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


def _measure(ctx: Context, peer, file: str, reps: int, tool: str, row: str) -> None:
    base, env = _argv(peer, file, tool)
    if tool == "boxnet":
        _byte_code(env)
    ups, downs = [], []
    for i in range(reps + 1):
        t_up = _timed(base + ["up", "-d"], env)
        n = _running(peer)
        if n != 3:
            ctx.note(f"{row}: {n} of 3 containers running after `up -d` (rep {i})")
        t_down = _timed(base + ["down", "-t", "0"], env)
        if _running(peer):
            ctx.note(f"{row}: containers left after `down` (rep {i})")
        if i:  # the first round is the warm-up
            ups.append(t_up * MS)
            downs.append(t_down * MS)
    ctx.metric("compose_up", "`compose up -d` of the seed example", "ms", row, ups)
    ctx.metric("compose_down", "`compose down` of the seed example", "ms", row, downs)


def run(ctx: Context) -> dict:
    """Run scenario 5 against boxnet and Docker (compose v2, and v1 if installed)."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(5, 15)
    v2 = COMPOSE_V2.exists()
    v1 = os.path.exists(COMPOSE_V1)
    with tempfile.TemporaryDirectory(prefix="bxt-bench-compose-") as tmp:
        file = _seed_copy(tmp)
        with ctx.peer("boxnet") as peer:
            if peer is not None:
                _measure(ctx, peer, file, reps, "boxnet", "boxnet")
                if v2:
                    _measure(ctx, peer, file, reps, "v2", "boxnet (compose v2)")
        if not v2 and not v1:
            ctx.skip("docker", "no docker compose (scripts/install-compose.sh for v2, "
                     "apt-get install docker-compose for v1)")
        else:
            with ctx.peer("docker") as peer:
                if peer is not None:
                    if v2:
                        _measure(ctx, peer, file, reps, "v2", "docker")
                    if v1:
                        _measure(ctx, peer, file, reps, "v1", "docker (compose v1)")
    m = ctx.median_of
    for key, what in (("compose_up", "`compose up -d`"), ("compose_down", "`compose down`")):
        ctx.goal(f"{what}: at most a quarter of Docker's (docker compose v2)",
                 ratio(m(key, "boxnet"), m(key, "docker")), 0.25,
                 measured=v2, detail="" if v2 else "compose v2 not installed")
        ctx.goal(f"{what}: at most a quarter of Docker's (docker-compose v1)",
                 ratio(m(key, "boxnet"), m(key, "docker (compose v1)")), 0.25,
                 measured=v1, detail="" if v1 else "docker-compose v1 not installed")
    ctx.note("All timed around the CLI process: boxnet compose and docker-compose 1.29 are "
             "Python programs (start-up included), docker compose v2 is a Go binary. Same "
             "file, same project name, `down -t 0`.")
    return res
