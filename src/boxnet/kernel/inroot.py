"""Opening paths inside a container's root without ever leaving it: openat2(2)
with RESOLVE_IN_ROOT, through ctypes.

Why openat2: `docker cp` into a container extracts an untrusted tarball as
root into a tree the container's own processes may change at the same time.
Joining paths in Python and checking them with lstat is racy (a directory
swapped for a symlink between the check and the open) and gets symlink
chains wrong.  With RESOLVE_IN_ROOT the kernel resolves every component with
`dirfd` as "/": an absolute symlink, `..` at the top or a chain of symlinks
all stay under it, as they would for a process chrooted there (Docker's
chroot extraction).  RESOLVE_NO_MAGICLINKS refuses /proc/<pid>/fd style
links, which would jump anywhere.  Linux >= 5.6; `available()` says whether
this kernel has it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS

# openat2 has one number on every architecture (it came after the unification).
_SYS_OPENAT2 = 437
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = IN_ROOT) -> int:
    """openat2(2): a new fd (O_CLOEXEC added) or OSError with the errno.  `path`
    is resolved under `dirfd` as its root by default ("" or "." is dirfd itself)."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & (os.O_CREAT | os.O_TMPFILE) else 0,
                   resolve)
    fd = _libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd),
                       ctypes.c_char_p(os.fsencode(path or ".")), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{os.strerror(err)}: {path!r}")
    return fd


def open_in_root(rootfd: int, path: str, flags: int = os.O_RDONLY, mode: int = 0) -> int:
    """Open `path` (absolute or not: it is taken relative to the root) inside the
    tree of `rootfd`, every symlink on the way resolved as if chrooted there."""
    return openat2(rootfd, path.lstrip("/") or ".", flags, mode, IN_ROOT)


def open_root(path: str) -> int:
    """An O_PATH directory fd of a container's root (`/proc/<pid>/root` of a
    running one: its mounts, volumes and binds are seen through it)."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def fd_path(fd: int) -> str:
    """The host path an fd refers to (readlink of /proc/self/fd/N)."""
    return os.readlink(f"/proc/self/fd/{fd}")


_AVAILABLE: bool | None = None


def available() -> bool:
    """Whether this kernel has openat2 (ENOSYS before Linux 5.6)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        root = os.open("/", os.O_PATH | os.O_CLOEXEC)
        try:
            os.close(openat2(root, ".", os.O_PATH))
            _AVAILABLE = True
        except OSError as e:
            _AVAILABLE = e.errno != errno.ENOSYS
        finally:
            os.close(root)
    return _AVAILABLE
