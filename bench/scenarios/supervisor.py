"""Scenario: the memory of what reaps containers across daemon restarts (issue 21 item 2).

boxnet's choice is one boxnet-supervisor per host (src/boxnet/kernel/supervisor.py):
the subreaper that runs `runc run -d`, reaps each init and records its exit code.
Measured here:
- the supervisor's RSS and Pss (/proc/PID/smaps_rollup) with no container and with
  N running, and so its cost per container: (Pss(N) - Pss(0)) / N;
- the option not taken, one `python -S` process per container (containerd's shim
  model), priced by boxnet-shim, the per-container process that already exists for
  `-i`/`-t` containers: the mean Pss and RSS of one shim with N of them running.
Pss shares a page among the processes mapping it, so it is the fair price of many
copies of one program; RSS counts every shared page in full.
Docker beside when installed: the mean RSS/Pss of one containerd-shim-runc-v2.
Goal: under 1 MiB per container.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.context import Context
from bench.peers.host import pids_mentioning

NAME = "supervisor"
TITLE = "14. Exit codes across daemon restarts: the supervisor's memory per container"
MiB = 1024.0


def _mem_kib(pid: int) -> tuple[int, int]:
    """(Rss, Pss) of pid in KiB from smaps_rollup, (0, 0) if gone."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _pids_running(needle: str, scope: str) -> list[int]:
    """PIDs of processes whose command line mentions both `needle` and `scope`."""
    out = []
    for pid in pids_mentioning(scope):
        try:
            if needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(pid)
        except OSError:
            pass
    return out


def _containers(peer, prefix: str, n: int, stdin: bool) -> list[str]:
    ids = []
    for i in range(n):
        cid = peer.api.request("POST", "/containers/create", query={"name": f"{prefix}{i}"},
                               body={"Image": "busybox:latest", "Cmd": ["sleep", "3600"],
                                     "OpenStdin": stdin, "HostConfig": {"NetworkMode": "none"}})["Id"]
        peer.api.request("POST", f"/containers/{cid}/start")
        ids.append(cid)
    return ids


def _boxnet(ctx: Context, peer, n: int) -> None:
    scope = str(peer.host.tmp)
    warm = _containers(peer, "sv-warm", 1, False)   # the supervisor starts with the first
    for cid in warm:
        peer.remove_container(cid)
    time.sleep(0.5)
    sup = _pids_running("supervisor.py", scope)
    if len(sup) != 1:
        ctx.note(f"boxnet: expected one boxnet-supervisor, found {len(sup)}")
        return
    rss0, pss0 = _mem_kib(sup[0])
    ids = _containers(peer, "sv", n, False)
    time.sleep(0.5)
    rss1, pss1 = _mem_kib(sup[0])
    for cid in ids:
        peer.remove_container(cid)
    ctx.metric("sup_pss", "boxnet-supervisor Pss, no container", "MiB", peer.name, [pss0 / MiB])
    ctx.metric("sup_rss", "boxnet-supervisor RSS, no container", "MiB", peer.name, [rss0 / MiB])
    ctx.metric("sup_per_ctr", f"supervisor memory per container (Pss growth / {n})", "KiB",
               peer.name, [(pss1 - pss0) / n])
    ctx.metric("sup_total_per_ctr", f"supervisor Pss / {n} containers, its base included", "KiB",
               peer.name, [pss1 / n])
    # The option not taken: one python -S process per container (boxnet-shim of -i containers).
    ids = _containers(peer, "sh", n, True)
    time.sleep(0.5)
    shims = _pids_running("shim.py", scope)
    mem = [_mem_kib(p) for p in shims]
    for cid in ids:
        peer.remove_container(cid)
    if mem:
        ctx.metric("shim_pss", f"one per-container python -S shim: mean Pss of {len(mem)}",
                   "MiB", peer.name, [sum(p for _, p in mem) / len(mem) / MiB])
        ctx.metric("shim_rss", f"one per-container python -S shim: mean RSS of {len(mem)}",
                   "MiB", peer.name, [sum(r for r, _ in mem) / len(mem) / MiB])


def _docker(ctx: Context, peer, n: int) -> None:
    before = set(_pids_running("containerd-shim", "-namespace"))
    ids = _containers(peer, "sv", n, False)
    time.sleep(0.5)
    shims = [p for p in _pids_running("containerd-shim", "-namespace") if p not in before]
    mem = [_mem_kib(p) for p in shims]
    for cid in ids:
        peer.remove_container(cid)
    if mem:
        ctx.metric("shim_pss", f"one containerd-shim-runc-v2: mean Pss of {len(mem)}", "MiB",
                   peer.name, [sum(p for _, p in mem) / len(mem) / MiB])
        ctx.metric("shim_rss", f"one containerd-shim-runc-v2: mean RSS of {len(mem)}", "MiB",
                   peer.name, [sum(r for r, _ in mem) / len(mem) / MiB])


def run(ctx: Context) -> dict:
    """Measure the supervisor (and the per-container alternative) beside Docker's shims."""
    res = ctx.begin(NAME, TITLE)
    n = ctx.pick(20, 100)
    for name in ("boxnet", "docker"):
        with ctx.peer(name) as peer:
            if peer is None:
                continue
            (_boxnet if name == "boxnet" else _docker)(ctx, peer, n)
    per = ctx.median_of("sup_per_ctr", "boxnet")
    ctx.goal("supervisor memory per container under 1 MiB (1024 KiB)", per, 1024)
    ctx.note("Why one supervisor per host: a python -S process per container costs its "
             "Pss (shim_pss) each, far above 1 MiB; the host-wide supervisor costs a few "
             "hundred bytes per container (a dict entry) on top of one process.")
    return res
