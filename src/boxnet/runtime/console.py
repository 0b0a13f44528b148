"""A container's (or an exec's) pty master, held by the daemon.

Output read from the master is appended to the container's stdout log (so
`logs` works for TTY containers) and copied to every attached client; input
from clients is written to it.  The reader is always active, so a program
never blocks on a full pty even when nobody is attached.
"""

from __future__ import annotations

import asyncio
import errno
import os

from boxnet.kernel.console import set_winsize


class Console:
    """The master side of a pty, pumped on the event loop."""

    def __init__(self, fd: int, log_path: str | None = None):
        """Take ownership of `fd` (non-blocking); tee output to `log_path`."""
        self.fd = fd
        self._loop = asyncio.get_running_loop()
        self._log = open(log_path, "ab", buffering=0) if log_path else None
        self._subs: set[asyncio.Queue] = set()
        self.closed = asyncio.Event()
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave side closed (the process ended)
            data = b""
        if not data:
            self.close()
            return
        if self._log is not None:
            self._log.write(data)
        for q in self._subs:
            q.put_nowait(data)

    def feed_from(self, fifo_path: str) -> None:
        """Also type what is written to the FIFO at `fifo_path` (the
        container's stdin_path, so writers of the FIFO reach a TTY container).
        Opened O_RDWR: it never reads EOF and never blocks an opener."""
        fd = os.open(fifo_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._fifo = fd
        tasks: set = set()

        def readable() -> None:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            if data:
                t = self._loop.create_task(self.write(data))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        self._loop.add_reader(fd, readable)

    def subscribe(self) -> asyncio.Queue:
        """A queue receiving the output from now on; b"" when the pty closes."""
        q: asyncio.Queue = asyncio.Queue()
        if self.closed.is_set():
            q.put_nowait(b"")
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        """Stop copying output to `q`."""
        self._subs.discard(q)

    async def write(self, data: bytes) -> None:
        """Type `data` into the terminal (waits while the pty buffer is full)."""
        while data and not self.closed.is_set():
            try:
                n = os.write(self.fd, data)
                data = data[n:]
            except BlockingIOError:
                await asyncio.sleep(0.01)
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return
                raise

    def resize(self, height: int, width: int) -> None:
        """Set the window size (no error once closed)."""
        if not self.closed.is_set() and height > 0 and width > 0:
            set_winsize(self.fd, height, width)

    def close(self) -> None:
        """Stop reading, close the fd, tell subscribers (idempotent)."""
        if self.closed.is_set():
            return
        self.closed.set()
        self._loop.remove_reader(self.fd)
        fifo = getattr(self, "_fifo", None)
        if fifo is not None:
            self._loop.remove_reader(fifo)
            os.close(fifo)
        try:
            # Drain what is left (the last output before exit).
            while True:
                data = os.read(self.fd, 65536)
                if not data:
                    break
                if self._log is not None:
                    self._log.write(data)
                for q in self._subs:
                    q.put_nowait(data)
        except OSError:
            pass
        os.close(self.fd)
        if self._log is not None:
            self._log.close()
        for q in self._subs:
            q.put_nowait(b"")
