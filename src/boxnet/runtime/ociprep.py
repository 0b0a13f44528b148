"""The two-step start of OciRuntime: `runc create` (prepare), then `runc start`.

Why: `runc run -d` is most of a container start (~30-40 ms here: runc's own
start-up, namespaces, mounts, cgroups, seccomp), and the core's network work
(veth, addresses, DNS resolver, routes: ~15-20 ms) only needs the netns to
exist, not the process.  Split in two, runc's set-up runs while the core
plumbs the netns (core/containers.py), and only the start (the init's exec
of the user's program: its exec fifo read, well under 1 ms) waits for both.  Docker does the same in
its way: libnetwork plumbs the sandbox from runc's prestart hook, between
runc's create and start.

- `prepare(id)`: `runc create` through boxnet-supervisor (the init becomes its
  child as with `run -d`, so its exit is recorded whatever happens to the
  daemon), with the same pass-through stdio; the init's pid and pidfd (and
  the write end of a stdin pipe, for the shim) are kept until start.
- `start(id)` of a prepared container: what `runc start` does, without its
  process (Runc.start: the exec fifo read, the init's pidfd watched), then
  the shim and the exit watch, as after `run -d`.
- `abort(id)`: a prepared container that will not start (a failed network
  set-up): `runc delete --force` kills its waiting init (the supervisor reaps
  it) and drops runc's state; the bundle stays, as after a failed `run -d`.
- A TTY container is not prepared (runc sends the pty master during create,
  and the shim must hold it from then on): its start stays one `run -d`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from boxnet.errors import KernelError
from boxnet.kernel.process import kill_and_wait, proc_start_time
from boxnet.runtime.console import start_shim
from boxnet.runtime.initstdio import InitStdio
from boxnet.runtime.ociexec import OnExit

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A created container's init, waiting on runc's exec fifo."""

    pid: int
    pidfd: int | None          # None: the init already ended (its record is written)
    stdin_w: int | None = None  # the write end of its stdin pipe, for the shim

    def close(self) -> None:
        """Close the fds still held (an aborted or dropped preparation)."""
        for fd in (self.pidfd, self.stdin_w):
            if fd is not None:
                os.close(fd)
        self.pidfd = self.stdin_w = None


class PrepareOps:
    """Mixin of OciRuntime (which provides runc, supervisor, _prepared,
    _ready_bundle, _load_meta, log_paths, _runc_failure, root and _watch)."""

    _prepared: dict[str, Prepared]

    async def prepare(self, container_id: str) -> bool:
        """`runc create` of a container whose bundle is written (Runtime.create):
        its init set up and waiting; True when prepared (a TTY container is
        not: its start does it all).  KernelError with runc's message."""
        if self._load_meta(container_id).get("tty"):
            return False
        b, meta = await self._ready_bundle(container_id)
        out_path, err_path = self.log_paths(container_id)
        stdio = InitStdio(meta["stdin"], out_path, err_path)   # stdin's pipe: the shim's at start
        try:
            argv = self.runc.create_argv(container_id, b, os.path.join(b, "init.pid"),
                                         os.path.join(b, "runc.log"))
            try:
                pid, pidfd = await self.supervisor.run(
                    container_id, argv, stdio.triple,
                    os.path.join(b, "init.pid"), os.path.join(b, "exit.json"))
            except KernelError:
                raise KernelError(self._runc_failure(err_path, stdio.err_offset)) from None
            self._prepared[container_id] = Prepared(pid, pidfd, stdio.take_stdin_w())
        finally:
            stdio.close()
        return True

    async def _start_prepared(self, container_id: str, on_exit: OnExit) -> int:
        """Runc.start of a prepared container; the shim (stdin) and the exit
        watch follow, as after `run -d`.  On failure the init is killed."""
        prep = self._prepared[container_id]
        try:
            await self.runc.start(container_id, prep.pidfd)
        except BaseException:
            await self.abort(container_id)
            raise
        del self._prepared[container_id]
        b = os.path.dirname(self.log_paths(container_id)[0])
        pid, pidfd = prep.pid, prep.pidfd
        if prep.stdin_w is not None:
            w, prep.stdin_w = prep.stdin_w, None   # closed by start_shim
            start_shim(self.root, b, container_id, pid, w, False,
                       self.log_paths(container_id)[0], pidfd)
        prep.pidfd = None   # owned by the watch from now on
        self._watch(container_id, pid, on_exit, pidfd=pidfd, started=True)
        return pid

    async def abort(self, container_id: str) -> None:
        """Undo a `prepare` (no error when there is none): the waiting init is
        killed and runc's state dropped; the bundle is kept."""
        prep = self._prepared.pop(container_id, None)
        if prep is None:
            return
        prep.close()
        await self.runc.delete(container_id)

    def drop_prepared(self, container_id: str) -> None:
        """Forget a preparation (its fds closed) without touching runc: the
        caller deletes runc's state itself (Runtime.delete, close)."""
        prep = self._prepared.pop(container_id, None)
        if prep is not None:
            prep.close()

    async def discard(self, container_id: str) -> None:
        """Kill a live init runc still has for a container nobody watches (a
        start cut short by a daemon crash: a created init waiting on its fifo,
        or one started and never recorded) and drop runc's state; the bundle
        is kept.  Why: that init holds the container's netns, so the veth
        pairs a released netns takes with it would outlive the teardown.
        Nothing when runc's init is dead already (a stopped container)."""
        if container_id in self._watchers:
            return
        self.drop_prepared(container_id)
        init = self.runc.init_process(container_id)
        if init is None or proc_start_time(init[0]) != init[1]:
            return
        await kill_and_wait(*init)
        exit_path = os.path.join(os.path.dirname(self.log_paths(container_id)[0]), "exit.json")
        try:   # the supervisor's record written before the state goes (as in delete)
            await asyncio.wait_for(self.supervisor.wait_exit(container_id, exit_path), 5)
        except (asyncio.TimeoutError, OSError, ValueError) as e:
            log.warning("exit record of %s not confirmed: %s", container_id[:12], e)
        await self.runc.delete(container_id)
