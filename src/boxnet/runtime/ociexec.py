"""The exec side of OciRuntime: processes started inside a running container.

- exec_start(): `runc exec -d` with a pipe per wanted stream and /dev/null
  for the others (runtime/execproc.py): the daemon reads the pipes a chunk at
  a time, so no exec's output is ever collected in memory.
- exec_tty(): `runc exec -d -t`; the pty master stays in the daemon
  (runtime/console.py Console): an exec lives as long as its connection.
- `exec -u USER`: the user is resolved in the running container's own
  /etc/passwd and /etc/group and the process comes from a process.json.
- exec(): a short command run to its end with its output collected, bounded.
A mixin of OciRuntime: it uses the runtime's runc, root, bundles and tasks.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import secrets
from typing import Awaitable, Callable

from boxnet.errors import Conflict, KernelError
from boxnet.kernel.console import ConsoleSocket
from boxnet.kernel.process import ExitWatcher
from boxnet.kernel.procfacts import host_facts
from boxnet.runtime.api import ExecResult
from boxnet.runtime.bundle import exec_process
from boxnet.runtime.console import Console
from boxnet.runtime.execproc import ExecProcess, start_exec_process
from boxnet.runtime.procopts import held_caps
from boxnet.runtime.users import ExecUser, resolve_in_rootfs

EXEC_COLLECT_LIMIT = 16 << 20   # bytes: exec() (short commands) refuses more output

OnExit = Callable[[int], Awaitable[None] | None]


class ExecOps:
    """Mixin of OciRuntime: execs."""

    async def exec_tty(self, container_id: str, args: list[str], env: list[str], cwd: str,
                       on_exit: OnExit, user: str = "", privileged: bool = False) -> Console:
        """Start `args` in the container on a new pty; on_exit(code) when it ends.
        `user`, `privileged`: as for exec_start."""
        if self.runc.init_process(container_id) is None:
            raise Conflict(f"container {container_id} is not running")
        process_file = self.exec_user_process(container_id, args, ["TERM=xterm", *env], cwd,
                                              True, user, privileged)
        cs = ConsoleSocket(self.root)
        pid_file = os.path.join(cs._dir, "exec.pid")
        try:
            recv = asyncio.ensure_future(cs.receive())
            try:
                pid = await self.runc.exec_tty(container_id, args, ["TERM=xterm", *env], cwd,
                                               cs.path, pid_file, process_file=process_file)
            except KernelError:
                recv.cancel()
                raise
            fd = await recv
        finally:
            if os.path.exists(pid_file):
                os.unlink(pid_file)
            if process_file:
                os.unlink(process_file)
            cs.close()
        con = Console(fd)
        holder: dict = {}

        def exited(code: int) -> None:
            holder.pop("w", None)
            res = on_exit(code)
            if inspect.isawaitable(res):
                task = asyncio.ensure_future(res)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        holder["w"] = ExitWatcher(pid, exited)
        return con

    async def exec_start(self, container_id: str, args: list[str], env: list[str], cwd: str,
                         stdin: bool, stdout: bool, stderr: bool,
                         user: str = "", privileged: bool = False) -> ExecProcess:
        """Start a non-TTY exec: a pipe for each wanted stream, /dev/null for
        the others (runtime/execproc.py); its exit is ExecProcess.exited.
        `user` ("" = the container's): `exec -u`, see exec_user_process;
        `privileged`: every capability boxnetd holds (`exec --privileged`).

        A program that cannot be run / is not found exits 126/127 at once, as
        Docker reports."""
        if self.runc.init_process(container_id) is None:
            raise Conflict(f"container {container_id} is not running")
        process_file = self.exec_user_process(container_id, args, env, cwd, False, user,
                                              privileged)
        try:
            return await start_exec_process(self.runc, self.root, container_id, args, env, cwd,
                                            stdin, stdout, stderr, process_file=process_file)
        finally:
            if process_file:
                os.unlink(process_file)

    def _resolve_user(self, container_id: str, user: str):
        b = self._bundle(container_id)
        return resolve_in_rootfs(os.path.join(b, "rootfs"), user,
                                 self._load_meta(container_id).get("group_add") or [])

    def check_user(self, container_id: str, user: str) -> None:
        """InvalidParameter unless `user` resolves in the container's files."""
        self._resolve_user(container_id, user)

    def exec_user_process(self, container_id: str, args: list[str], env: list[str], cwd: str,
                          tty: bool, user: str, privileged: bool = False) -> str | None:
        """For `exec -u USER` or `exec --privileged`: write the exec's process.json
        (USER resolved in the running container's /etc/passwd and /etc/group,
        with the container's --group-add, else the container's own user;
        capabilities of root only for root; privileged: every capability
        boxnetd holds, as Docker's) and return its path.  None for neither:
        runc then runs the container's own process settings."""
        if not user and not privileged:
            return None
        b = self._bundle(container_id)
        with open(os.path.join(b, "config.json")) as f:
            base = json.load(f)["process"]
        if user:
            who = self._resolve_user(container_id, user)
        else:
            own = base.get("user") or {}
            who = ExecUser(uid=own.get("uid", 0), gid=own.get("gid", 0),
                           additional_gids=list(own.get("additionalGids") or []))
        caps = held_caps(host_facts().cap_bounding) if privileged else None
        path = os.path.join(b, f"exec-{secrets.token_hex(8)}.json")
        with open(path, "w") as f:
            json.dump(exec_process(base, args, env, cwd, tty, who, caps), f)
        return path

    async def exec(self, container_id: str, args: list[str], env: list[str],
                   cwd: str, tty: bool, stdin: bytes | None = None,
                   limit: int = EXEC_COLLECT_LIMIT, user: str = "") -> ExecResult:
        """Run a short command to its end and collect stdout and stderr apart
        (no pty even if tty).  More than `limit` bytes of output is an error:
        the API streams execs (exec_start) and never collects them."""
        proc = await self.exec_start(container_id, args, env, cwd, stdin is not None, True, True,
                                     user=user)
        out: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}

        async def collect(stream: int) -> None:
            while data := await proc.read(stream):
                out[stream] += data
                if len(out[1]) + len(out[2]) > limit:
                    proc.kill()
                    raise KernelError(f"exec output exceeds {limit} bytes")

        async def feed() -> None:
            try:
                await proc.write(stdin or b"")
            finally:
                proc.close_stdin()
        try:
            async with asyncio.TaskGroup() as tg:   # one failing ends the others
                tg.create_task(collect(1))
                tg.create_task(collect(2))
                if stdin is not None:
                    tg.create_task(feed())
            code = await proc.exited
        except* KernelError as group:
            raise group.exceptions[0] from None
        finally:
            proc.close()
        return ExecResult(exit_code=code, stdout=bytes(out[1]), stderr=bytes(out[2]))
