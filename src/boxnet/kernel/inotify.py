"""inotify(7) through ctypes: IN_MODIFY watches on files, for the log clock
(runtime/logclock.py).

One non-blocking inotify fd; `read_wds()` drains it and returns the watch
descriptors that fired.  The kernel merges an event identical to the last one
queued, so a file written in a tight loop costs a handful of events per read,
not one per write.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

IN_MODIFY = 0x00000002
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")   # wd, mask, cookie, len (then len bytes of name)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


class Inotify:
    """An inotify instance (close() it)."""

    def __init__(self):
        """A new non-blocking, close-on-exec inotify fd."""
        self.fd = _check(_libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")

    def add_watch(self, path: str, mask: int = IN_MODIFY) -> int:
        """Watch `path`; returns its watch descriptor (the same for the same file)."""
        return _check(_libc.inotify_add_watch(self.fd, os.fsencode(path), mask),
                      f"inotify_add_watch {path}")

    def rm_watch(self, wd: int) -> None:
        """Stop a watch (no error if the kernel already dropped it)."""
        _libc.inotify_rm_watch(self.fd, wd)

    def read_wds(self) -> set[int]:
        """The watch descriptors with events since the last read (drains the fd)."""
        out: set[int] = set()
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            if not buf:
                return out
            pos = 0
            while pos + _EVENT.size <= len(buf):
                wd, _mask, _cookie, n = _EVENT.unpack_from(buf, pos)
                out.add(wd)
                pos += _EVENT.size + n

    def close(self) -> None:
        """Close the fd."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
