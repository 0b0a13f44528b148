"""Terminals and stdin of containers and execs.

- Console: a pty master held by the daemon itself: `exec -t` (an exec lives
  only as long as its client connection anyway).  Output is copied to every
  subscriber, each bounded (a slow one pauses the pty: back-pressure);
  input is written to it.
- ShimConsole: a container's pty master (tty) or stdin pipe (open_stdin),
  held by its shim process (runtime/shim.py) so that it survives daemon
  restarts; reached over the shim's unix socket, one connection per attach.
  start_shim() hands the fds to a new shim right after runc started the
  container.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import os
import struct

from boxnet.kernel.console import listen_unix, set_winsize, spawn_shim
from boxnet.kernel.process import ExitWatcher

HDR = struct.Struct(">cI")   # the shim's frame header (see runtime/shim.py)


MAX_SUB_BACKLOG = 256 << 10   # bytes of output held for one subscriber before the pty is paused


class Subscription:
    """One reader of a Console's output: chunks not yet taken, bounded."""

    def __init__(self, console: "Console"):
        """Empty; the console feeds it."""
        self._console = console
        self._chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self._ended = False
        self._ready = asyncio.Event()

    def _put(self, data: bytes) -> None:
        if self._ended:
            return
        if data:
            self._chunks.append(data)
            self.size += len(data)
        else:
            self._ended = True
        self._ready.set()

    def end(self) -> None:
        """Make get() return b"" once the chunks already held are taken."""
        self._put(b"")

    async def get(self) -> bytes:
        """The next chunk of output; b"" when the pty closed (or end())."""
        while not self._chunks:
            if self._ended:
                return b""
            self._ready.clear()
            await self._ready.wait()
        data = self._chunks.popleft()
        self.size -= len(data)
        self._console._maybe_resume()
        return data


class Console:
    """The master side of a pty, pumped on the event loop.

    Output goes to every subscriber.  Why bounded: a subscriber (a client
    connection) slower than the program would otherwise make the daemon
    hold without limit what the program writes.  When one holds more than
    MAX_SUB_BACKLOG bytes the pty is no longer read, so the program blocks
    on its full terminal (as on a real terminal nobody scrolls), until that
    subscriber has taken half.  With no subscriber the output is discarded."""

    def __init__(self, fd: int, log_path: str | None = None):
        """Take ownership of `fd` (non-blocking); tee output to `log_path`."""
        self.fd = fd
        self._loop = asyncio.get_running_loop()
        self._log = open(log_path, "ab", buffering=0) if log_path else None
        self._subs: set[Subscription] = set()
        self.closed = asyncio.Event()
        self._paused = False
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
        self._deliver(data)
        if any(s.size > MAX_SUB_BACKLOG for s in self._subs):
            self._paused = True
            self._loop.remove_reader(self.fd)

    def _deliver(self, data: bytes) -> None:
        if self._log is not None:
            self._log.write(data)
        for s in self._subs:
            s._put(data)

    def _maybe_resume(self) -> None:
        if self._paused and not self.closed.is_set() and \
                all(s.size <= MAX_SUB_BACKLOG // 2 for s in self._subs):
            self._paused = False
            self._loop.add_reader(self.fd, self._readable)

    def subscribe(self) -> Subscription:
        """A subscription receiving the output from now on; b"" when the pty closes."""
        s = Subscription(self)
        if self.closed.is_set():
            s.end()
        self._subs.add(s)
        return s

    def unsubscribe(self, s: Subscription) -> None:
        """Stop copying output to `s`."""
        self._subs.discard(s)
        self._maybe_resume()

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
        if not self._paused:
            self._loop.remove_reader(self.fd)
        try:
            # Drain what is left: the last output before the exit.  Bounded,
            # because a program still running (the client left) refills it.
            for _ in range(16):
                data = os.read(self.fd, 65536)
                if not data:
                    break
                self._deliver(data)
        except OSError:
            pass
        os.close(self.fd)
        if self._log is not None:
            self._log.close()
        for s in self._subs:
            s.end()


def shim_socket_path(root: str, container_id: str) -> str:
    """Where the shim of `container_id` listens (short: sun_path has 108 bytes)."""
    return os.path.join(root, "shim", container_id[:32] + ".sock")


def start_shim(root: str, bundle: str, container_id: str, pid: int, io_fd: int,
               tty: bool, log_path: str, init_pidfd: int | None = None) -> asyncio.Event | None:
    """Hand `io_fd` (pty master if `tty`, else the stdin pipe's write end;
    closed here) to a new shim serving the container whose init is `pid`.

    Returns an event set when the shim has ended (None if it never ran): a
    TTY shim writes the terminal's last output to the log after the init
    exited, so the exit is reported only once that is done (as containerd
    reports an exit after the container's IO is drained).

    The daemon binds the socket and hands the shim a pidfd of the init (a
    copy of `init_pidfd`, opened by boxnet-supervisor while the init was its
    unreaped child, so a recycled pid cannot fool it), before the shim runs:
    clients can connect at once."""
    path = shim_socket_path(root, container_id)
    try:
        pidfd = os.dup(init_pidfd) if init_pidfd is not None else os.pidfd_open(pid)
    except ProcessLookupError:
        _drain_to(io_fd, log_path if tty else None)
        return None
    sock = None
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        sock = listen_unix(path)
        args = ["--listen-fd", str(sock.fileno()), "--pidfd", str(pidfd),
                "--io-fd", str(io_fd), "--mode", "tty" if tty else "stdin", "--sock-path", path]
        if tty:
            args += ["--log", log_path]
        proc = spawn_shim(args, [sock.fileno(), pidfd, io_fd], os.path.join(bundle, "shim.log"))
    finally:
        if sock is not None:
            sock.close()
        os.close(pidfd)
        os.close(io_fd)

    ended = asyncio.Event()

    def reaped(code: int) -> None:   # the daemon is its parent until it restarts
        proc.returncode = code
        ended.set()
    try:
        ExitWatcher(proc.pid, reaped)
    except ProcessLookupError:
        ended.set()
    return ended


def _drain_to(fd: int, log_path: str | None) -> None:
    """Copy what is left in a pty master to the log, then close it."""
    try:
        with open(log_path or os.devnull, "ab") as log:
            while log_path:
                data = os.read(fd, 65536)
                if not data:
                    break
                log.write(data)
    except OSError:
        pass
    os.close(fd)


class ShimSession:
    """One connection to a shim: the stdin of one attach, and (tty) its output."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._r, self._w = reader, writer

    async def _send(self, typ: bytes, payload: bytes = b"") -> None:
        if self._w.is_closing():
            return
        self._w.write(HDR.pack(typ, len(payload)) + payload)
        try:
            await self._w.drain()
        except (ConnectionError, OSError):
            pass

    async def read(self) -> bytes:
        """Terminal output as it comes; b"" when the container has exited."""
        try:
            return await self._r.read(65536)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        """Bytes for the container's stdin."""
        for i in range(0, len(data), 1 << 16):
            await self._send(b"D", data[i:i + (1 << 16)])

    async def close_stdin(self) -> None:
        """Close the container's stdin pipe: it reads EOF (StdinOnce)."""
        await self._send(b"C")

    async def resize(self, height: int, width: int) -> None:
        """Set the terminal's window size."""
        if height > 0 and width > 0:
            await self._send(b"R", struct.pack(">HH", height, width))

    def close(self) -> None:
        """Leave (the container is unaffected)."""
        self._w.close()


class ShimConsole:
    """A container's terminal or stdin, held by its shim."""

    def __init__(self, path: str, tty: bool):
        """`path`: the shim's socket (shim_socket_path)."""
        self.path, self.tty = path, tty

    async def attach(self, output: bool, offset: int = -1) -> ShimSession:
        """A new session; `output`: also receive the terminal's output from
        `offset` of the stdout log on (-1: from now).  Raises OSError when the
        shim is gone (the container has exited)."""
        reader, writer = await asyncio.open_unix_connection(self.path)
        s = ShimSession(reader, writer)
        await s._send(b"H", b"1" + struct.pack(">q", offset) if output else b"0")
        return s

    async def resize(self, height: int, width: int) -> None:
        """Set the window size through a short-lived session (no error if gone)."""
        try:
            s = await self.attach(False)
        except OSError:
            return
        try:
            await s.resize(height, width)
        finally:
            s.close()
