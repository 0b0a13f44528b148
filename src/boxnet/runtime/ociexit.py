"""The exit side of OciRuntime: `runc run -d` through boxnet-supervisor, the
exit watch of each container, re-adoption after a daemon restart, and the
exit records (<bundle>/exit.json) the supervisor writes.

Why the supervisor (kernel/supervisor.py): only the parent or subreaper of an
init learns its exit status, and the daemon must be able to die and come
back (or be replaced by another build) without losing it.  The daemon learns
*that* an init ended from a pidfd, and *how* from the supervisor.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os

from boxnet.errors import NotFound
from boxnet.kernel.process import UNKNOWN_EXIT_CODE, ExitWatcher, proc_start_time
from boxnet.kernel.runc import Runc
from boxnet.kernel.supervise import SupervisorClient
from boxnet.kernel.supervisor import read_record
from boxnet.runtime.api import ExitRecord
from boxnet.runtime.ociexec import OnExit

log = logging.getLogger(__name__)
EXIT_RECORD_WAIT = 5.0   # s: the longest reconcile waits for the supervisor's record of one init
SHIM_DRAIN = 3.0   # s: the longest a TTY container's exit waits for its shim's last output


class ExitOps:
    """Mixin of OciRuntime (which provides runc, supervisor, _bundle, _watchers
    and _tasks)."""

    runc: Runc
    supervisor: SupervisorClient
    _watchers: dict[str, ExitWatcher]
    _tasks: set[asyncio.Task]

    async def _run_runc(self, container_id: str, b: str, stdio: tuple[int, int, int],
                        console_socket: str | None = None) -> tuple[int, int | None]:
        """`runc run -d` through the supervisor: (init pid, its pidfd or None)."""
        argv = self.runc.run_argv(container_id, b, os.path.join(b, "init.pid"),
                                  os.path.join(b, "runc.log"), console_socket)
        return await self.supervisor.run(container_id, argv, stdio,
                                         os.path.join(b, "init.pid"), os.path.join(b, "exit.json"))

    async def last_exit(self, container_id: str, pid: int) -> ExitRecord | None:
        """The exit record the supervisor wrote for the run of `container_id`
        whose init was `pid` (None when there is none, or of another run).

        Why the supervisor is asked when the file has no record: an init it
        has just reaped is gone from /proc (so not adopted) a few ms before
        its record is renamed into place (write_record fsyncs first).  The
        supervisor serves one message at a time, so its answer to a wait
        comes after that record; it waits for an init it has not reaped yet
        (bounded: a live init that was not adopted must not hold the start)."""
        try:
            exit_path = os.path.join(self._bundle(container_id), "exit.json")
        except NotFound:
            return None
        rec = read_record(exit_path)
        if rec is None or (pid and rec.get("pid") != pid):
            try:
                rec = await asyncio.wait_for(self.supervisor.wait_exit(container_id, exit_path),
                                             EXIT_RECORD_WAIT)
            except asyncio.TimeoutError:
                log.warning("no exit record of container %s after %.0f s", container_id[:12],
                            EXIT_RECORD_WAIT)
                rec = None
        if rec is None or (pid and rec.get("pid") != pid):
            return None
        return ExitRecord(exit_code=rec["code"], finished_at=str(rec.get("finished_at", "")))

    def _watch(self, container_id: str, pid: int, on_exit: OnExit,
               drained: asyncio.Event | None = None, pidfd: int | None = None,
               started: bool = False) -> None:
        """on_exit(code) when the init ends (after `drained`, the TTY shim's end,
        or SHIM_DRAIN seconds: its output must be in the log before an
        auto-removed container's attach reads it there).  The code is the
        supervisor's record.  `pidfd` (owned from now on): the supervisor's;
        when a container just `started` has none, its init already exited."""
        exit_path = os.path.join(self._bundle(container_id), "exit.json")
        def track(res) -> None:
            if inspect.isawaitable(res):
                task = asyncio.ensure_future(res)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        async def report(code: int) -> None:
            if code == UNKNOWN_EXIT_CODE:   # not reaped here (see exited)
                rec = await self.supervisor.wait_exit(container_id, exit_path)
                if rec is not None and rec.get("pid") == pid:
                    code = int(rec["code"])
                else:
                    log.warning("no exit record for container %s (pid %d): exit code %d",
                                container_id[:12], pid, code)
            if drained is not None and not drained.is_set():
                try:
                    await asyncio.wait_for(drained.wait(), SHIM_DRAIN)
                except asyncio.TimeoutError:
                    log.warning("shim of %s did not end %.0f s after the container",
                                container_id[:12], SHIM_DRAIN)
            res = on_exit(code)
            if inspect.isawaitable(res):
                await res

        def exited(code: int) -> None:
            # Normally not our child (UNKNOWN_EXIT_CODE): the supervisor has the
            # code.  Ours when the supervisor was killed: its orphans fall to
            # the daemon, its parent and a subreaper, and waitpid gave the code.
            self._watchers.pop(container_id, None)
            track(report(code))

        if started and pidfd is None:   # exited before runc returned: recorded already
            asyncio.get_running_loop().call_soon(exited, UNKNOWN_EXIT_CODE)
            return
        self._watchers[container_id] = ExitWatcher(pid, exited, pidfd=pidfd)

    async def adopt(self, container_id: str, pid: int, on_exit: OnExit) -> bool:
        """Watch a container that survived a daemon restart.

        Checks that `pid` is still that container's init (runc's recorded pid
        and start time against /proc), so a recycled pid is never adopted.
        on_exit receives the code the supervisor records (255 only when no
        supervisor knew the container).  False if it is gone: its code is
        then in last_exit()."""
        if container_id in self._watchers:
            return True
        init = self.runc.init_process(container_id)
        if init is None or init[0] != pid or proc_start_time(pid) != init[1]:
            return False
        try:
            self._watch(container_id, pid, on_exit)
        except ProcessLookupError:
            return False
        if proc_start_time(pid) != init[1]:  # recycled between the check and pidfd_open
            self._watchers.pop(container_id).close()
            return False
        return True

    # -- signals, exec, delete -------------------------------------------------------
