"""Scenario: `docker cp` of a 100 MiB directory into a running container and
back out (issue 16, performance: "at most Docker's time").

The real docker CLI against each engine (DOCKER_HOST at its socket), both up
together and the copies interleaved (boxnet, Docker, Docker, boxnet...) so a
drift of the machine hits both alike.  The tree: 96 files of 1 MiB and 1024
files of 4 KiB in 32 directories (random bytes, so no filesystem shortcut).
Each copy goes to a fresh directory of the same container; process start of
the CLI is included, as a user sees it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

from bench.context import Context
from bench.stats import ratio

NAME = "cp"
TITLE = "16. docker cp: a 100 MiB directory into a container and out"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
MS = 1000.0


def make_tree(root: str, big: int = 96, small: int = 1024) -> int:
    """Write the source tree; return its size in bytes."""
    total = 0
    for i in range(big):
        d = os.path.join(root, f"big{i % 8}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        total += 1 << 20
    for i in range(small):
        d = os.path.join(root, f"small{i % 32}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"s{i}.txt"), "wb") as f:
            f.write(os.urandom(4096))
        total += 4096
    return total


def _cli(peer, cfg: str, *args: str) -> float:
    env = dict(os.environ, DOCKER_HOST=f"unix://{peer.sock}", DOCKER_CONFIG=cfg)
    t0 = time.perf_counter()
    subprocess.run([DOCKER, *args], env=env, check=True, capture_output=True, timeout=600)
    return (time.perf_counter() - t0) * MS


def _container(peer) -> str:
    peer.ensure_busybox()
    cid = peer.api.request("POST", "/containers/create", body={
        "Image": "busybox:latest", "Cmd": ["sleep", "3600"],
        "HostConfig": {"NetworkMode": "none"}})["Id"]
    peer.api.request("POST", f"/containers/{cid}/start")
    return cid


def run(ctx: Context) -> dict:
    """Measure boxnet and Docker (when installed) copying in and out."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(3, 7)
    work = tempfile.mkdtemp(prefix="bench-cp-")
    cfg = os.path.join(work, "dockercfg")
    os.makedirs(cfg)
    src = os.path.join(work, "tree")
    os.makedirs(src)
    try:
        size = make_tree(src)
        with ctx.peer("boxnet") as bx, ctx.peer("docker") as dk:
            peers = [p for p in (bx, dk) if p is not None]
            cids = {p.name: _container(p) for p in peers}
            into: dict[str, list[float]] = {p.name: [] for p in peers}
            out: dict[str, list[float]] = {p.name: [] for p in peers}
            try:
                for i in range(reps):
                    for p in (peers if i % 2 else peers[::-1]):
                        cid = cids[p.name]
                        into[p.name].append(_cli(p, cfg, "cp", src, f"{cid}:/tmp/copy{i}"))
                        dst = os.path.join(work, f"out-{p.name}-{i}")
                        out[p.name].append(_cli(p, cfg, "cp", f"{cid}:/tmp/copy{i}", dst))
                        shutil.rmtree(dst, ignore_errors=True)
            finally:
                for p in peers:
                    p.remove_container(cids[p.name])
            for p in peers:
                ctx.metric("cp_in", f"docker cp of {size >> 20} MiB (1120 files) into a "
                           "container", "ms", p.name, into[p.name])
                ctx.metric("cp_out", f"docker cp of the same {size >> 20} MiB out of it", "ms",
                           p.name, out[p.name])
        m = ctx.median_of
        ctx.goal("docker cp of a 100 MiB directory into a container: at most Docker's time",
                 ratio(m("cp_in", "boxnet"), m("cp_in", "docker")), 1.0)
        ctx.goal("docker cp of it out of the container: at most Docker's time",
                 ratio(m("cp_out", "boxnet"), m("cp_out", "docker")), 1.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res
