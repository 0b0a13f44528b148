"""Process supervision: subreaper, pidfd watches.

Why a subreaper: `runc run -d` (and `runc exec -d`) forks the process and
exits, so it would be reparented to pid 1 and its exit status lost.  Marking
a process a child subreaper (prctl PR_SET_CHILD_SUBREAPER) makes the orphan
its child instead, so `waitpid` gives it the real exit status.  The daemon is
the subreaper of execs; boxnet-supervisor (kernel/supervisor.py), which
outlives the daemon, is the one of container inits.

Each watched process costs one pidfd registered with the event loop
(`loop.add_reader`): nothing blocks and 1000 containers are 1000 fds.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
from typing import Callable

PR_SET_CHILD_SUBREAPER = 36

# Exit code reported when a process that is not our child ends and nobody
# recorded its status: only its parent can learn it (see ExitWatcher).
UNKNOWN_EXIT_CODE = 255

_libc = ctypes.CDLL(None, use_errno=True)


def set_child_subreaper() -> None:
    """Make the calling process a child subreaper (idempotent)."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (best effort); return it.

    Each watched container holds a pidfd: 1000 containers need more than the
    common 1024 soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def proc_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks (field 22 of /proc/pid/stat), None if gone.

    Together with the pid it names one process for good: it tells a recycled
    pid from the process we started."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[19])


def exit_code_from_status(status: int) -> int:
    """Docker's exit code from a wait status: the code, or 128+signal."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


async def kill_and_wait(pid: int, start_time: int, timeout: float = 5.0) -> None:
    """SIGKILL `pid` (if it is still the process started at `start_time`) and
    wait until it has exited (zombie or reaped), at most `timeout` seconds.

    Why: `runc delete --force` on a running container polls with 100 ms
    sleeps; killing and waiting on a pidfd first makes delete ~10 ms."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if proc_start_time(pid) != start_time:
            return  # pid recycled: not ours to kill
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except ProcessLookupError:
            return
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.add_reader(fd, lambda: done.done() or done.set_result(None))
        try:
            await asyncio.wait_for(done, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)


class ExitWatcher:
    """Watches one process through a pidfd and reports its exit code once.

    When the process is our child (started by us, or reparented to us as
    subreaper) the code comes from `waitpid`, which also reaps the zombie.
    Otherwise (adopted after a daemon restart: its parent is whoever was above
    the old daemon) the status is unknowable and UNKNOWN_EXIT_CODE is given.
    """

    def __init__(self, pid: int, callback: Callable[[int], None],
                 loop: asyncio.AbstractEventLoop | None = None, pidfd: int | None = None):
        """Open a pidfd on `pid` (raises ProcessLookupError if it is gone), or
        take ownership of `pidfd`, one opened where the pid could not be
        recycled (by the process's parent: boxnet-supervisor)."""
        self.pid = pid
        self._callback = callback
        self._loop = loop or asyncio.get_running_loop()
        self._fd: int | None = pidfd if pidfd is not None else os.pidfd_open(pid)
        self._loop.add_reader(self._fd, self._on_ready)

    def send_signal(self, sig: int) -> bool:
        """Signal the process through its pidfd (no pid-reuse race); False if gone."""
        if self._fd is None:
            return False
        try:
            signal.pidfd_send_signal(self._fd, sig)
            return True
        except ProcessLookupError:
            return False

    def close(self) -> None:
        """Stop watching without reporting."""
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    def _on_ready(self) -> None:
        # A pidfd becomes readable when the process exits (it is a zombie or gone).
        self.close()
        code = UNKNOWN_EXIT_CODE
        try:
            wpid, status = os.waitpid(self.pid, os.WNOHANG)
            if wpid == self.pid:
                code = exit_code_from_status(status)
        except ChildProcessError:
            pass  # not our child: the status went to its real parent
        self._callback(code)
