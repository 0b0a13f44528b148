"""ExecProcess: one running non-TTY exec, with bounded pipes.

The exec is started with `runc exec -d` (kernel/runc.py): its stdin, stdout
and stderr are pipes whose other ends the daemon holds, or /dev/null for a
stream nobody wants (`exec -d`, AttachStdout=false): Docker discards those,
and a pipe nobody reads would block the process, or fill the daemon's
memory if the daemon read it into a buffer.

Why pipes read in chunks: at most one chunk per stream sits in the daemon
(asyncio stops reading a pipe whose buffer is full), so a chatty exec is
slowed to the pace of its client, as with Docker, instead of being
collected in memory.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import tempfile

from boxnet.errors import Conflict, KernelError
from boxnet.kernel.process import ExitWatcher
from boxnet.kernel.runc import Runc

CHUNK = 65536


class ExecProcess:
    """The daemon's side of one exec: output pipes, stdin pipe, exit code."""

    def __init__(self, pid: int, stdout: int | None, stderr: int | None, stdin: int | None,
                 error: str = "", exit_code: int | None = None):
        """Take ownership of the fds (non-blocking read ends / write end).

        `pid` 0 with `exit_code` and `error`: the program never ran (runc's
        message in `error`); the pipes then only hold that message."""
        self.pid, self.error = pid, error
        self._loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int] = self._loop.create_future()
        self._fds = {1: stdout, 2: stderr}
        self._stdin = stdin
        for fd in (stdout, stderr, stdin):
            if fd is not None:
                os.set_blocking(fd, False)
        self._watcher: ExitWatcher | None = None
        if pid:
            try:
                self._watcher = ExitWatcher(pid, self._set_exit)
            except ProcessLookupError:   # already reaped: cannot happen for our child
                self._set_exit(255)
        else:
            self._set_exit(255 if exit_code is None else exit_code)

    def _set_exit(self, code: int) -> None:
        self._watcher = None
        if not self.exited.done():
            self.exited.set_result(code)

    def streams(self) -> list[int]:
        """The output streams (1 = stdout, 2 = stderr) that have a pipe."""
        return [s for s, fd in self._fds.items() if fd is not None]

    async def read(self, stream: int) -> bytes:
        """The next chunk of `stream` (at most CHUNK bytes); b"" at its end."""
        fd = self._fds.get(stream)
        while fd is not None:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                await self._wait(fd, self._loop.add_reader, self._loop.remove_reader)
                fd = self._fds.get(stream)
                continue
            except OSError:
                data = b""
            if not data:
                self._close_stream(stream)
            return data
        return b""

    async def write(self, data: bytes) -> None:
        """Bytes for the exec's stdin (waits while the pipe is full; dropped
        once the process stopped reading it)."""
        view = memoryview(data)
        while view and self._stdin is not None:
            try:
                n = os.write(self._stdin, view)
                view = view[n:]
            except BlockingIOError:
                await self._wait(self._stdin, self._loop.add_writer, self._loop.remove_writer)
            except OSError as exc:
                if exc.errno not in (errno.EPIPE, errno.EBADF):
                    raise
                self.close_stdin()

    def close_stdin(self) -> None:
        """The exec reads EOF on stdin (idempotent)."""
        if self._stdin is not None:
            fd, self._stdin = self._stdin, None
            os.close(fd)

    async def _wait(self, fd: int, add, remove) -> None:
        fut = self._loop.create_future()
        add(fd, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            remove(fd)

    def _close_stream(self, stream: int) -> None:
        fd = self._fds.get(stream)
        if fd is not None:
            self._fds[stream] = None
            os.close(fd)

    def kill(self) -> None:
        """SIGKILL the process (through its pidfd: no pid-reuse race)."""
        if self._watcher is not None:
            self._watcher.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Drop the daemon's ends of every pipe (the exit is still reported)."""
        for s in (1, 2):
            self._close_stream(s)
        self.close_stdin()


def exit_code_of_failure(message: str) -> int:
    """Docker's exit code for an exec runc could not start: 127 when the
    program is not found, 126 when it cannot be run, else 255."""
    if "not found" in message or "no such file" in message:
        return 127
    if "permission denied" in message:
        return 126
    return 255


async def start_exec_process(runc: Runc, tmp_root: str, container_id: str, args: list[str],
                             env: list[str], cwd: str, stdin: bool, stdout: bool,
                             stderr: bool, process_file: str | None = None) -> ExecProcess:
    """Start `args` in the container with a pipe for each wanted stream and
    /dev/null for the others; a program that cannot be started gives an
    ExecProcess that has already exited (126/127/255, runc's message in
    `error` and on the stderr pipe).  Conflict if the container stopped."""
    ours: list[int | None] = []
    theirs: list[int] = []
    tmp = tempfile.mkdtemp(prefix="boxnet-exec-", dir=tmp_root)
    try:
        for i, want in enumerate((stdin, stdout, stderr)):
            if want:
                r, w = os.pipe2(os.O_CLOEXEC)
                ours.append(w if i == 0 else r)
                theirs.append(r if i == 0 else w)
            else:
                ours.append(None)
                theirs.append(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
        try:
            pid = await runc.exec_detached(container_id, args, env, cwd, tuple(theirs),
                                           os.path.join(tmp, "exec.pid"),
                                           os.path.join(tmp, "runc.log"),
                                           process_file=process_file)
            error, code = "", None
        except KernelError as exc:
            if "stopped container" in exc.message or "not running" in exc.message:
                raise Conflict(f"container {container_id} is not running") from None
            pid, error, code = 0, exc.message, exit_code_of_failure(exc.message)
    except BaseException:
        for fd in ours:
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in theirs:
            os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)
    return ExecProcess(pid, ours[1], ours[2], ours[0], error=error, exit_code=code)
