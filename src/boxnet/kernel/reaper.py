"""Reaping what `runc exec` leaves to the daemon, its child subreaper.

Why: the daemon is a child subreaper (kernel/process.py) so that an exec's
process, orphaned when `runc exec -d` exits, becomes its child and its exit
code can be read (ExitWatcher).  But runc's own intermediate processes are
orphaned to it too, and nothing watches them:

- `runc:[1:CHILD]`, nsexec's stage-1, exits once it forked the stage-2
  process; its zombie is left to the subreaper (one per exec seen here when
  runc's stage-0 exits first).
- `runc:[2:INIT]`, a stage-2 that died before it could exec the program: the
  container was killed while `runc exec` was in flight (a healthcheck probe
  every 100 ms makes that common).  runc reports the exec as failed, so no
  ExitWatcher exists for it.  This one is worse than a leaked pid: it belongs
  to the container's pid namespace, and the kernel does not let that
  namespace's init finish exiting (zap_pid_ns_processes waits for every pid
  of the namespace to be freed) until its zombie is reaped, so the
  container's exit is never reported and `stop` / `rm -f` time out.

On every SIGCHLD the daemon's children are listed (/proc/self/task/*/children)
and the zombies among them whose name is one of runc's stages (no program was
ever exec'd in them, so no ExitWatcher waits for their status) are reaped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

log = logging.getLogger(__name__)

RUNC_STAGES = ("runc:[1:CHILD]", "runc:[2:INIT]")


def _children() -> set[int]:
    pids: set[int] = set()
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except (OSError, ValueError):
            continue   # a thread that just ended
    return pids


def _zombie_stage(pid: int) -> bool:
    """True when `pid` is a zombie named after one of runc's stages."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    comm = stat[stat.find("(") + 1:stat.rfind(")")]
    state = stat[stat.rfind(")") + 2:stat.rfind(")") + 3]
    return state == "Z" and comm in RUNC_STAGES


def reap_runc_leftovers() -> int:
    """Reap the zombie children of this process left by runc's stages; return
    how many.  Never waits, never touches another child."""
    n = 0
    for pid in _children():
        if not _zombie_stage(pid):
            continue
        try:
            wpid, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if wpid == pid:
            n += 1
    if n:
        log.debug("reaped %d zombie(s) left by runc exec", n)
    return n


def install(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Reap runc's leftovers at every SIGCHLD, in the event loop (and once now).
    False when no handler can be installed (no running loop, not the main
    thread): leftovers then wait for the next install."""
    try:
        loop = loop or asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGCHLD, reap_runc_leftovers)
    except (RuntimeError, ValueError, NotImplementedError) as exc:
        log.debug("no SIGCHLD reaper: %s", exc)
        return False
    reap_runc_leftovers()
    return True


def uninstall(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Remove the SIGCHLD handler (daemon shutdown)."""
    try:
        (loop or asyncio.get_running_loop()).remove_signal_handler(signal.SIGCHLD)
    except (RuntimeError, ValueError, NotImplementedError):
        pass   # never installed, or the loop is gone: nothing to remove
