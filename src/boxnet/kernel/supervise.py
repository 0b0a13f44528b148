"""The daemon's side of boxnet-supervisor (kernel/supervisor.py): start it
when none listens, hold a connection to it for the daemon's lifetime, have it
run `runc run -d`, and ask it for the exit records of containers.

The supervisor outlives the daemon (own session); a daemon that starts finds
the running one at <runtime root>/supervisor.sock, so containers started by a
previous daemon (an older build included: the protocol is versioned) are
still reaped by it and their exit codes are not lost.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import socket
import subprocess
import sys

from boxnet.errors import KernelError
from boxnet.kernel.process import ExitWatcher
from boxnet.kernel.supervisor import MAX_FDS, MAX_MSG, PROTO, read_record

log = logging.getLogger(__name__)
SUP_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor.py")
# Why connect may fail and a new supervisor be started: none runs (first
# start, or it left when idle) or a stale socket file remains.
_NOT_LISTENING = (errno.ENOENT, errno.ECONNREFUSED)


class SupervisorClient:
    """One daemon's connection to the host's supervisor."""

    def __init__(self, root: str):
        """The supervisor's socket and log live in `root` (the runtime root)."""
        self.root = root
        self.path = os.path.join(root, "supervisor.sock")
        self.pid = 0
        self._hold: socket.socket | None = None
        self._lock = asyncio.Lock()
        self._proc: subprocess.Popen | None = None
        self.nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"

    async def ensure(self) -> None:
        """Connect to the supervisor, starting one when none listens."""
        async with self._lock:
            if self._hold is not None:
                return
            for _ in range(3):
                try:
                    self._hold, reply = await self._hello()
                except OSError as e:
                    if isinstance(e, ConnectionError) or e.errno in _NOT_LISTENING:
                        self._spawn()   # none there, or it was leaving as we came
                        continue
                    raise KernelError(f"boxnet-supervisor at {self.path}: {e}") from None
                self.pid = int(reply.get("pid", 0))
                asyncio.get_running_loop().add_reader(self._hold, self._hold_readable)
                log.info("boxnet-supervisor pid %d", self.pid)
                return
            raise KernelError(f"boxnet-supervisor did not start (see {self.root}/supervisor.log)")

    async def _hello(self) -> tuple[socket.socket, dict]:
        s = await self._connect()
        try:
            reply, _ = await self._exchange(s, {"op": "hello", "proto": PROTO})
        except BaseException:
            s.close()
            raise
        if reply.get("proto") != PROTO:
            s.close()
            raise KernelError(f"boxnet-supervisor speaks protocol {reply.get('proto')}, "
                              f"this boxnetd {PROTO}")
        return s, reply

    def _hold_readable(self) -> None:
        """The supervisor went away (killed): the next start brings a new one."""
        loop = asyncio.get_running_loop()
        if self._hold is not None:
            loop.remove_reader(self._hold)
            self._hold.close()
            self._hold = None
            log.warning("boxnet-supervisor (pid %d) is gone; exit codes of the containers "
                        "it reaped are read from their records", self.pid)

    def _spawn(self) -> None:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        old = os.umask(0o177)
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        sock.listen(64)
        try:
            with open(os.path.join(self.root, "supervisor.log"), "ab") as logf:
                self._proc = subprocess.Popen(
                    [sys.executable, "-S", SUP_SCRIPT, "--listen-fd", str(sock.fileno()),
                     "--sock-path", self.path],
                    pass_fds=[sock.fileno()], stdin=subprocess.DEVNULL, stdout=logf,
                    stderr=logf, start_new_session=True, close_fds=True)
        finally:
            sock.close()
        proc = self._proc
        try:   # our child while this daemon lives: reap it if it ever leaves
            ExitWatcher(proc.pid, lambda code: setattr(proc, "returncode", code))
        except ProcessLookupError:
            pass

    async def _connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        s.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(s, self.path)
        except BaseException:
            s.close()
            raise
        return s

    async def _exchange(self, s: socket.socket, msg: dict,
                        fds: list[int] = ()) -> tuple[dict, list[int]]:
        """Send one request, wait for its one reply (and the fds it carries)."""
        socket.send_fds(s, [json.dumps(msg).encode()], list(fds))
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(s, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(s)
        data, anc, _f, _a = s.recvmsg(MAX_MSG, socket.CMSG_SPACE(MAX_FDS * 4),
                                      socket.MSG_CMSG_CLOEXEC)
        got: list[int] = []
        for level, typ, payload in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                n = len(payload) - len(payload) % 4
                got += [int.from_bytes(payload[i:i + 4], sys.byteorder) for i in range(0, n, 4)]
        if not data:
            for fd in got:
                os.close(fd)
            raise ConnectionResetError("boxnet-supervisor closed the connection")
        return json.loads(data), got

    async def run(self, container_id: str, argv: list[str], stdio: tuple[int, int, int],
                  pid_file: str, exit_path: str) -> tuple[int, int | None]:
        """Have the supervisor run `argv` (a `runc run -d`) with `stdio`, in this
        daemon's mount namespace; return (init pid, pidfd of the init or None
        when it has already exited: its record is then written).

        Raises KernelError with runc's exit code when it failed."""
        await self.ensure()
        mnt = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            s = await self._connect()
            try:
                # Why nsenter: after a daemon restart in a private mount
                # namespace, the supervisor (started by the old daemon) is in
                # another one, where this daemon's root mounts do not exist.
                reply, fds = await self._exchange(s, {
                    "op": "run", "id": container_id, "pid_file": pid_file,
                    "exit_path": exit_path,
                    "argv": [self.nsenter, "--mount=/proc/self/fd/3", "--", *argv]},
                    [*stdio, mnt])
            finally:
                s.close()
        finally:
            os.close(mnt)
        if not reply.get("ok"):
            for fd in fds:
                os.close(fd)
            raise KernelError(f"runc run {container_id} failed (exit {reply.get('rc')})"
                              + (f": {reply['error']}" if reply.get("error") else ""))
        return int(reply["pid"]), (fds[0] if fds else None)

    async def wait_exit(self, container_id: str, exit_path: str) -> dict | None:
        """The exit record {code, finished_at, pid} of the container's last
        run once its init has exited; None when nobody knows it."""
        try:
            s = await self._connect()
        except OSError:
            return read_record(exit_path)   # no supervisor: only the record can tell
        try:
            reply, fds = await self._exchange(s, {"op": "wait", "id": container_id,
                                                  "exit_path": exit_path})
            for fd in fds:
                os.close(fd)
        except OSError:
            return read_record(exit_path)
        finally:
            s.close()
        return None if reply.get("unknown") else reply

    def close(self) -> None:
        """Let go of the supervisor (it stays while containers run)."""
        if self._hold is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._hold)
            except RuntimeError:
                pass
            self._hold.close()
            self._hold = None
