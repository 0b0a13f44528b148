"""CPU time of a peer's daemon processes, per process name, with nanosecond resolution.

Why: on the bench's 2-core machine a daemon's CPU during an operation is time its peer
(dockerd, the other daemon) cannot run, so a wall-clock gap between two peers can come
from either one's CPU.  The plugin scenario (issue 19) reports dockerd's and boxnetd's
CPU per `docker network connect` beside the wall time, which tells dockerd's
remote-driver path from boxnetd's own work.

The source is /proc/<pid>/task/*/schedstat (first field: nanoseconds on a CPU, per
thread); /proc/<pid>/stat counts in 10 ms clock ticks, too coarse for a 50 ms operation.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.peers.host import descendants, proc_name


def thread_ns(pid: int) -> dict[int, int]:
    """Nanoseconds each live thread of pid has run, by thread id; {} if pid is gone."""
    out = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            out[int(tid)] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def daemon_pids(root: int, names: tuple[str, ...]) -> dict[str, list[int]]:
    """The PIDs among root and its descendants whose comm is one of names, by name."""
    out: dict[str, list[int]] = {n: [] for n in names}
    for pid in (root, *descendants(root)):
        name = proc_name(pid)
        if name in out:
            out[name].append(pid)
    return out


class CpuMeter:
    """CPU of named processes between two snapshots: ``start()``, then ``ms()`` (a dict
    name -> milliseconds since start).  Compared thread by thread: a thread born in
    between counts whole, one that exited in between loses its share (never negative)."""

    def __init__(self, pids: dict[str, list[int]]):
        self.pids = pids
        self._t0: dict[str, dict[tuple[int, int], int]] = {}

    def _now(self) -> dict[str, dict[tuple[int, int], int]]:
        return {n: {(p, tid): ns for p in ps for tid, ns in thread_ns(p).items()}
                for n, ps in self.pids.items()}

    def start(self) -> None:
        """Take the starting snapshot."""
        self._t0 = self._now()

    def ms(self) -> dict[str, float]:
        """Milliseconds of CPU per name since start()."""
        out = {}
        for n, threads in self._now().items():
            before = self._t0.get(n, {})
            out[n] = sum(ns - before.get(key, 0) for key, ns in threads.items()) / 1e6
        return out
