"""Terminals for containers: runc's --console-socket and pty window sizes.

runc allocates the pty inside the container and sends the master side back
over a unix socket (SCM_RIGHTS) named by --console-socket.  The daemon keeps
that fd: it pumps it to attach/exec connections and resizes it with
TIOCSWINSZ.  Used by runtime/console.py.

A container's own terminal (and its stdin pipe) is handed on to a shim
process (runtime/shim.py) so that it outlives the daemon: spawn_shim() starts
it detached with the fds it inherits.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import socket
import struct
import subprocess
import sys
import tempfile
import termios


class ConsoleSocket:
    """A listening unix socket that receives one pty master from runc."""

    def __init__(self, directory: str | None = None):
        """Bind a fresh socket in `directory` (a private temp dir by default)."""
        self._dir = tempfile.mkdtemp(prefix="boxnet-console-", dir=directory)
        self.path = os.path.join(self._dir, "console.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(1)
        self._sock.setblocking(False)

    async def receive(self, timeout: float = 10.0) -> int:
        """Wait for runc to connect and send the master fd; return it."""
        loop = asyncio.get_running_loop()
        conn, _ = await asyncio.wait_for(loop.sock_accept(self._sock), timeout)
        try:
            conn.setblocking(True)
            conn.settimeout(timeout)
            fds = array.array("i")
            msg, anc, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
            for level, typ, data in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
            if not fds:
                raise OSError("runc sent no console fd")
            for extra in fds[1:]:
                os.close(extra)
            os.set_inheritable(fds[0], False)
            os.set_blocking(fds[0], False)
            return fds[0]
        finally:
            conn.close()

    def close(self) -> None:
        """Remove the socket and its directory."""
        self._sock.close()
        try:
            os.unlink(self.path)
            os.rmdir(self._dir)
        except OSError:
            pass


def set_winsize(fd: int, height: int, width: int) -> None:
    """Set a pty's window size (TIOCSWINSZ); the foreground job gets SIGWINCH."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


SHIM_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "runtime", "shim.py")


def listen_unix(path: str) -> socket.socket:
    """A listening unix socket at `path` (mode 0600; a stale file is replaced)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    sock.listen(16)
    return sock


def spawn_shim(args: list[str], pass_fds: list[int], log_path: str) -> subprocess.Popen:
    """Start runtime/shim.py detached (own session, stdio to `log_path`) with
    `pass_fds` inherited; the caller reaps it (see runtime/console.py).

    `python -S`: no site import, so the shim starts fast and the same
    interpreter as the daemon runs it."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-S", SHIM_SCRIPT, *args], pass_fds=pass_fds,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
