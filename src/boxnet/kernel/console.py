"""Terminals for containers: runc's --console-socket and pty window sizes.

runc allocates the pty inside the container and sends the master side back
over a unix socket (SCM_RIGHTS) named by --console-socket.  The daemon keeps
that fd: it pumps it to attach/exec connections and resizes it with
TIOCSWINSZ.  Used by runtime/console.py.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import socket
import struct
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


def get_winsize(fd: int) -> tuple[int, int]:
    """(rows, columns) of a pty."""
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols
