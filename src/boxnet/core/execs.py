"""Exec instances: create, start (through pipes, or on a pty: `exec -t`),
resize, inspect."""

from __future__ import annotations

import asyncio
from typing import Callable

import msgspec

from ..errors import Conflict, NotFound
from . import names


class ExecInstance(msgspec.Struct, kw_only=True):
    """One exec created by POST /containers/{id}/exec."""

    id: str
    container_id: str
    cmd: list[str]
    env: list[str] = []
    working_dir: str = ""
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    user: str = ""      # `exec -u`: "" runs as the container's user
    privileged: bool = False   # `exec --privileged`: every capability boxnetd holds
    # [height, width] the TTY gets as soon as it exists: ConsoleSize, or a resize
    # that arrived before the terminal did (the docker CLI resizes right after start)
    console_size: list[int] = []
    detach_keys: str = ""   # DetachKeys of a TTY exec ("": Docker's ctrl-p,ctrl-q)


def _privileged(ex: ExecInstance) -> dict:
    """The runtime's `privileged` argument, only when set (runtimes without it run
    every other exec)."""
    return {"privileged": True} if ex.privileged else {}


def _watch(ex: ExecInstance, proc, on_exit: Callable[[ExecInstance], None] | None = None,
           ) -> None:
    """Record the exec's pid now and its exit code (Running false) when it ends."""
    ex.pid = proc.pid

    def exited(fut) -> None:
        ex.running = False
        ex.exit_code = fut.result() if not fut.cancelled() else -1
        if on_exit is not None:
            on_exit(ex)
    proc.exited.add_done_callback(exited)


def shown(cmd: list[str]) -> str:
    """An exec's command as dockerd spells it in its events: the entrypoint, a space,
    the arguments joined by spaces ("exec_create: sh -c true")."""
    return f"{cmd[0] if cmd else ''} {' '.join(cmd[1:])}"


def _orphaned(ex: ExecInstance, starting: asyncio.Future,
              on_exit: Callable[[ExecInstance], None] | None = None) -> None:
    """The start of an exec whose request was cancelled has finished: a process
    it made is killed and watched to its end; a failed start ends the exec with
    126, dockerd's code for an exec that could not start."""
    if starting.cancelled() or starting.exception() is not None:
        ex.running, ex.exit_code = False, 126
        return
    proc = starting.result()
    _watch(ex, proc, on_exit)
    proc.kill()
    proc.exited.add_done_callback(lambda _: proc.close())


class ExecOps:
    """Mixin of the Controller: exec instances (kept in memory, like Docker), with
    dockerd's exec_create, exec_start and exec_die container events."""

    def _exec_event(self, ex: ExecInstance, action: str, **extra: str) -> None:
        c = self.containers.get(ex.container_id)
        if c is not None:
            self.event_feed.container_event(c, action, execID=ex.id, **extra)

    def _exec_died(self, ex: ExecInstance) -> None:
        self._exec_event(ex, "exec_die", exitCode=str(ex.exit_code))

    def create_exec(self, ref: str, cmd: list[str], env: list[str], working_dir: str,
                    tty: bool, attach_stdin: bool, attach_stdout: bool,
                    attach_stderr: bool, user: str = "",
                    privileged: bool = False) -> ExecInstance:
        """Register an exec on a running container; `user` must exist in it
        (400 otherwise, with Docker's message)."""
        c = self.container(ref)
        if c.status != "running":
            raise Conflict(f"container {c.id} is not running")
        if c.paused:   # runc exec would hang on the frozen cgroup (Docker's message)
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if user:
            self.runtime.check_user(c.id, user)
        ex = ExecInstance(id=names.new_id(), container_id=c.id, cmd=list(cmd), env=list(env),
                          working_dir=working_dir, tty=tty, attach_stdin=attach_stdin,
                          attach_stdout=attach_stdout, attach_stderr=attach_stderr, user=user,
                          privileged=privileged)
        self.execs[ex.id] = ex
        self._exec_event(ex, f"exec_create: {shown(ex.cmd)}")
        return ex

    def forget_execs(self, container_id: str) -> None:
        """Drop the exec instances of a removed container, as dockerd does
        (they were kept, and grew the daemon's memory, for ever)."""
        for exec_id in [e.id for e in self.execs.values() if e.container_id == container_id]:
            del self.execs[exec_id]
            self._exec_consoles.pop(exec_id, None)

    def get_exec(self, exec_id: str) -> ExecInstance:
        """An exec by id (NotFound otherwise)."""
        ex = self.execs.get(exec_id)
        if ex is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return ex

    def check_exec_startable(self, ex: ExecInstance):
        """Conflict unless the exec is new and its container runs; returns the container."""
        if ex.running or ex.exit_code is not None:
            raise Conflict(f"exec {ex.id} has already been started")
        c = self.containers.get(ex.container_id)
        if c is None or c.status != "running":
            raise Conflict(f"container {ex.container_id} is not running")
        if c.paused:
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        return c

    async def start_exec(self, exec_id: str, stdin: bool = False, stdout: bool = False,
                         stderr: bool = False):
        """Start the exec with a pipe for each wanted stream (none: `exec -d`,
        whose output Docker discards); returns the runtime's ExecProcess.

        The exec is running until the process exits; its exit code is kept."""
        ex = self.get_exec(exec_id)
        c = self.check_exec_startable(ex)
        ex.running = True
        self._exec_event(ex, f"exec_start: {shown(ex.cmd)}")
        starting = asyncio.ensure_future(self.runtime.exec_start(
            c.id, ex.cmd, ex.env, ex.working_dir or "", stdin, stdout, stderr, user=ex.user,
            **_privileged(ex)))
        try:
            proc = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The request was cancelled while runc started the exec: runc goes on
            # regardless, so its process is killed (the client is gone, as dockerd
            # kills an exec whose caller left) and its end still recorded.
            starting.add_done_callback(lambda f: _orphaned(ex, f, self._exec_died))
            raise
        except BaseException:
            ex.running = False
            raise
        _watch(ex, proc, self._exec_died)
        return proc

    async def start_exec_tty(self, exec_id: str, on_exit: Callable[[int], None] | None = None):
        """Start the exec on a new pty (`exec -t`); returns its Console
        (runtime/console.py).  The exec is running until the process exits
        (`on_exit(code)` then); its console is kept for resize_exec meanwhile,
        or until release_exec_console."""
        ex = self.get_exec(exec_id)
        self.check_exec_startable(ex)
        ex.running = True
        self._exec_event(ex, f"exec_start: {shown(ex.cmd)}")

        def exited(code: int) -> None:
            ex.running, ex.exit_code = False, code
            self._exec_consoles.pop(ex.id, None)
            self._exec_died(ex)
            if on_exit is not None:
                on_exit(code)
        try:
            con = await self.runtime.exec_tty(ex.container_id, ex.cmd, ex.env,
                                              ex.working_dir or "", exited, user=ex.user,
                                              **_privileged(ex))
        except BaseException:
            ex.running = False
            raise
        if ex.running:   # it may have ended already
            self._exec_consoles[ex.id] = con
        if ex.console_size:
            con.resize(*ex.console_size)
        return con

    def resize_exec(self, exec_id: str, height: int, width: int) -> None:
        """POST /exec/{id}/resize: the running exec's terminal, or the size its
        terminal gets as soon as it exists (the docker CLI resizes right after start)."""
        ex = self.get_exec(exec_id)
        con = self._exec_consoles.get(ex.id)
        if con is not None:
            con.resize(height, width)
        elif height > 0 and width > 0:
            ex.console_size = [height, width]

    def release_exec_console(self, exec_id: str) -> None:
        """The exec's client is gone: its console is no longer resized."""
        self._exec_consoles.pop(exec_id, None)
