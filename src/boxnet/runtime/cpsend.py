"""The tar of `docker cp` out of a container, written straight to a file
descriptor by the cp worker: the client's socket (HTTP chunked framing) or
its stdout pipe (plain bytes, relayed by the daemon).

Why not tarfile: its addfile() copies every file through Python buffers
(read, then a Sink that joins them) and the daemon then copied the whole
stream once more from the worker's pipe into aiohttp (100 MiB out took ~2x
Docker's time).  Here the headers are still tarfile's (TarInfo.tobuf, PAX:
long names, big sizes, the same bytes as before), small files are read into
the output buffer, and a large file's data goes from its fd to the output
with sendfile(2): never through Python, and on the socket never through the
daemon.  The walk is cptar.TreeWriter's (directory fds, O_NOFOLLOW).

The socket is the daemon's own, non-blocking (O_NONBLOCK is shared by every
dup of it): a write that would block waits in poll(2) for POLLOUT.
"""

from __future__ import annotations

import errno
import os
import select
import tarfile

from boxnet.runtime.cptar import TreeWriter

BLOCK, RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE
FLUSH = 1 << 20     # bytes buffered before one write (one HTTP chunk)
SMALL = 1 << 16     # files up to this size are read into the buffer, larger ones sendfile'd
SEND = 1 << 22      # bytes per sendfile(2) call
WAIT_MS = 600_000   # a client that takes nothing for 10 minutes is given up


class Out:
    """A write-only stream onto `fd` that tarfile-style code can use (write,
    tell), plus send_file() for data that never enters Python.  `chunked`:
    every write is one HTTP/1.1 chunk (the caller sends the terminator)."""

    def __init__(self, fd: int, chunked: bool):
        """Nothing written yet."""
        self.fd, self.chunked = fd, chunked
        self.buf = bytearray()
        self.total = 0
        self._poll = select.poll()
        self._poll.register(fd, select.POLLOUT)

    def _wait(self) -> None:
        if not self._poll.poll(WAIT_MS):
            raise OSError(errno.ETIMEDOUT, "the client took nothing for 10 minutes")

    def _send_all(self, data) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                self._wait()
                continue
            view = view[n:]

    def write(self, data) -> int:
        """Buffer `data`; write when FLUSH bytes are waiting."""
        self.buf += data
        self.total += len(data)
        if len(self.buf) >= FLUSH:
            self.flush()
        return len(data)

    def tell(self) -> int:
        """Bytes of tar so far."""
        return self.total

    def flush(self) -> None:
        """Write what is buffered (one chunk)."""
        if not self.buf:
            return
        if self.chunked:
            self.buf[:0] = b"%x\r\n" % len(self.buf)
            self.buf += b"\r\n"
        self._send_all(self.buf)
        self.buf.clear()

    def send_file(self, fd: int, size: int) -> None:
        """Append `size` bytes of file `fd` (from its start) with sendfile(2);
        OSError when the file is shorter now (it shrank while archived)."""
        self.flush()
        if self.chunked:
            self._send_all(b"%x\r\n" % size)
        offset = 0
        while offset < size:
            try:
                n = os.sendfile(self.fd, fd, offset, min(SEND, size - offset))
            except BlockingIOError:
                self._wait()
                continue
            if n == 0:
                raise OSError(errno.EIO, "a file shrank while it was archived")
            offset += n
        if self.chunked:
            self._send_all(b"\r\n")
        self.total += size


class DirectTar:
    """What cptar.TreeWriter needs of a tarfile.TarFile (tarinfo, addfile),
    writing onto an Out: headers as tarfile's PAX format writes them."""

    tarinfo = tarfile.TarInfo

    def __init__(self, out: Out):
        """Headers and data go to `out`."""
        self.out = out

    def addfile(self, ti: tarfile.TarInfo, f=None) -> None:
        """The header of `ti`, then (a regular file) `ti.size` bytes of the
        open file `f` and the padding to a 512-byte block."""
        self.out.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if f is None or ti.size == 0:
            return
        if ti.size <= SMALL:
            data = os.read(f.fileno(), ti.size)
            while len(data) < ti.size:
                more = os.read(f.fileno(), ti.size - len(data))
                if not more:
                    raise OSError(errno.EIO, "a file shrank while it was archived")
                data += more
            self.out.write(data)
        else:
            self.out.send_file(f.fileno(), ti.size)
        pad = -ti.size % BLOCK
        if pad:
            self.out.write(b"\0" * pad)

    def __enter__(self) -> "DirectTar":
        return self

    def __exit__(self, kind, *_) -> None:
        """Closed (the end written) only when no error came: a cut stream must
        not look whole to the client (tarfile does the same)."""
        if kind is None:
            self.close()

    def close(self) -> None:
        """The end: two zero blocks, then zeros to a whole record (as tarfile)."""
        self.out.write(b"\0" * (2 * BLOCK))
        pad = -self.out.total % RECORD
        if pad:
            self.out.write(b"\0" * pad)
        self.out.flush()


def tree_writer(out: Out, skip: tuple[str, ...]) -> tuple[DirectTar, TreeWriter]:
    """A DirectTar on `out` and the walker that feeds it."""
    tar = DirectTar(out)
    return tar, TreeWriter(tar, skip)  # type: ignore[arg-type]
