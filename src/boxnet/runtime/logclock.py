"""When each byte of a container's log was written: the log clock behind
`docker logs --timestamps/--since/--until`.

The container writes its stdout/stderr straight into the log files (runc's
pass-through; a TTY's shim tees into stdout.log), so no boxnet process sees the
lines.  The daemon watches each running container's log files with inotify
(kernel/inotify.py) and, when one grows, appends a record (size, mtime) to
`<log>.times`: the bytes up to `size` were all written by `mtime` (the
kernel's time of the last write, nanoseconds).  A line's time is that of the
first record that covers its end, so it is the write's own time when the
container writes in bursts slower than COOLDOWN, and at most COOLDOWN (plus
the daemon's event-loop delay) late otherwise: records are taken at most once
per COOLDOWN per file, the last one of a burst when the burst ends.  Output
written while no daemon watched (a daemon restart) gets the time of the next
record, at the latest the file's mtime.  The inotify fd is read at most once
per COOLDOWN, so a container writing 200 MB as fast as it can costs the daemon
~0.1 s of CPU (0.6 s when every event was read).  Records are 16 bytes, fixed size and
sorted, so a time is found by binary search with a few preads: a long-lived
chatty container's index is never read whole.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct

from boxnet.kernel.inotify import Inotify

log = logging.getLogger(__name__)
REC = struct.Struct("<QQ")     # size covered, time (ns since the epoch)
COOLDOWN = 0.01                # s between two records of one file
SUFFIX = ".times"


def times_path(log_path: str) -> str:
    """The index of a log file."""
    return log_path + SUFFIX


class _File:
    def __init__(self, path: str, fd: int):
        self.path, self.fd = path, fd
        self.size = -1
        self.last = 0.0
        self.pending = False


class LogClock:
    """Records, for every watched log file, when it grew (use on the event loop)."""

    def __init__(self):
        """Nothing watched; the inotify fd is made at the first watch."""
        self._ino: Inotify | None = None
        self._by_wd: dict[int, _File] = {}
        self._by_path: dict[str, int] = {}

    def watch(self, path: str) -> None:
        """Start recording `path` (idempotent); a record of its size now."""
        if path in self._by_path:
            return
        loop = asyncio.get_running_loop()
        if self._ino is None:
            self._ino = Inotify()
            loop.add_reader(self._ino.fd, self._readable)
        try:
            wd = self._ino.add_watch(path)
            fd = os.open(times_path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                         0o640)
        except OSError as e:   # logs keep working; only their times are unknown
            log.warning("log times of %s will not be recorded: %s", path, e)
            return
        f = _File(path, fd)
        self._by_wd[wd], self._by_path[path] = f, wd
        self._record(f)

    def unwatch(self, path: str) -> None:
        """Stop recording `path` (a last record first); no error if not watched."""
        wd = self._by_path.pop(path, None)
        if wd is None:
            return
        f = self._by_wd.pop(wd)
        self._record(f)
        if self._ino is not None:
            self._ino.rm_watch(wd)
        os.close(f.fd)
        f.fd = -1

    def close(self) -> None:
        """Stop everything (daemon shutdown: the next start records again)."""
        for path in list(self._by_path):
            self.unwatch(path)
        if self._ino is not None:
            asyncio.get_running_loop().remove_reader(self._ino.fd)
            self._ino.close()
            self._ino = None

    def _readable(self) -> None:
        if self._ino is None:
            return
        loop = asyncio.get_running_loop()
        # Why pause: a container writing in a tight loop makes an event per
        # write(2) when they are read at once (~0.6 s of daemon CPU for 200 MB);
        # left unread for COOLDOWN they merge in the kernel's queue.
        loop.remove_reader(self._ino.fd)
        loop.call_later(COOLDOWN, self._resume, self._ino)
        for wd in self._ino.read_wds():
            f = self._by_wd.get(wd)
            if f is None:
                continue
            wait = f.last + COOLDOWN - loop.time()
            if wait <= 0:
                self._record(f)
            elif not f.pending:
                f.pending = True
                loop.call_later(wait, self._flush, f)

    def _resume(self, ino: Inotify) -> None:
        if ino is self._ino and ino.fd >= 0:
            asyncio.get_running_loop().add_reader(ino.fd, self._readable)

    def _flush(self, f: _File) -> None:
        f.pending = False
        if f.fd >= 0:
            self._record(f)

    def _record(self, f: _File) -> None:
        try:
            st = os.stat(f.path)
        except OSError:
            return
        f.last = asyncio.get_running_loop().time()
        if st.st_size > f.size:
            f.size = st.st_size
            try:
                os.write(f.fd, REC.pack(st.st_size, st.st_mtime_ns))
            except OSError as e:
                log.warning("log times of %s: %s", f.path, e)


class LogTimes:
    """Reads the index of one log file: the time of a byte offset."""

    def __init__(self, log_path: str):
        """Open the index (none: every time is the log file's mtime)."""
        self.log_path = log_path
        try:
            self.fd = os.open(times_path(log_path), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.fd = -1

    def close(self) -> None:
        """Close the index."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _count(self) -> int:
        return os.fstat(self.fd).st_size // REC.size if self.fd >= 0 else 0

    def _rec(self, i: int) -> tuple[int, int]:
        return REC.unpack(os.pread(self.fd, REC.size, i * REC.size))

    def time_of(self, end: int) -> int:
        """When the byte just before offset `end` was written (ns since the epoch)."""
        lo, hi = 0, self._count()
        while lo < hi:
            mid = (lo + hi) // 2
            if self._rec(mid)[0] >= end:
                hi = mid
            else:
                lo = mid + 1
        if lo < self._count():
            return self._rec(lo)[1]
        try:   # not recorded yet (just written, or while no daemon watched)
            return os.stat(self.log_path).st_mtime_ns
        except OSError:
            return 0
