"""Writing a container's files as a tar stream (`docker cp` out of a container,
`docker export`), never following a symlink and never reading a file whole.

The tree is walked with directory fds: each child is opened or stat'ed
relative to its parent's fd with O_NOFOLLOW, so a symlink is archived as a
symlink and a directory swapped for a symlink while the walk runs cannot lead
it out of the container's root.  Hard links inside the tree become tar hard
links; sockets are skipped (tar cannot hold them, as Docker's archive).  The
output goes to a `Sink` in chunks: the caller forwards each to the client and
waits for it to be taken, so memory stays one chunk whatever the tree's size.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import Callable

CHUNK = 1 << 20


class Sink:
    """A write-only file object handing `push` chunks of about CHUNK bytes."""

    def __init__(self, push: Callable[[bytes], None]):
        """`push(chunk)` is called (blocking) for each full chunk and at close."""
        self.push = push
        self.buf = bytearray()
        self.total = 0

    def write(self, data) -> int:
        """Buffer `data`; push full chunks."""
        self.buf += data
        self.total += len(data)
        if len(self.buf) >= CHUNK:
            self.push(bytes(self.buf))
            self.buf.clear()
        return len(data)

    def tell(self) -> int:
        """Bytes written so far (tarfile asks)."""
        return self.total

    def flush(self) -> None:
        """Push what is buffered."""
        if self.buf:
            self.push(bytes(self.buf))
            self.buf.clear()

    def close(self) -> None:
        """Push the rest."""
        self.flush()


def new_tar(sink) -> tarfile.TarFile:
    """A tar writer (PAX: long names, big sizes) onto `sink`, which only needs
    write() and tell().  Why not tarfile's stream mode ("w|"): its buffer
    re-slices what is left after each 10 KiB block, quadratic in the size of a
    write (a 100 MiB copy out took 12 s instead of 1); mode "w" writes headers
    and file data straight through."""
    return tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT,
                        copybufsize=CHUNK)


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = st.st_mtime
    ti.uname = ti.gname = ""
    return ti


class TreeWriter:
    """Adds files and trees to one tar stream; remembers hard links."""

    def __init__(self, tar: tarfile.TarFile, skip: tuple[str, ...] = ()):
        """`skip`: container paths whose directory is archived empty (a running
        container's /proc, /sys, /dev: kernel trees, not its files)."""
        self.tar = tar
        self.skip = set(skip)
        self.links: dict[tuple[int, int], str] = {}

    def add(self, dirfd: int, name: str, st: os.stat_result, arcname: str, cpath: str) -> None:
        """Add the entry `name` of directory `dirfd` (lstat `st`) as `arcname`;
        `cpath` is its container path (for `skip`).  A directory is added with
        everything under it."""
        mode = st.st_mode
        ti = _info(arcname, st)
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                ti.type, ti.linkname = tarfile.LNKTYPE, self.links[key]
                self.tar.addfile(ti)
                return
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            with os.fdopen(fd, "rb", buffering=0) as f:
                ti.size = os.fstat(fd).st_size
                self.tar.addfile(ti, f)
            if st.st_nlink > 1:
                self.links[key] = arcname
        elif stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
            self.tar.addfile(ti)
            if cpath in self.skip:
                return
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=dirfd)
            try:
                self.add_children(fd, arcname, cpath)
            finally:
                os.close(fd)
        elif stat.S_ISLNK(mode):
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dirfd)
            self.tar.addfile(ti)
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
            self.tar.addfile(ti)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(ti)
        # sockets: not representable in tar (skipped, as Docker's archive does)

    def add_children(self, fd: int, arcname: str, cpath: str) -> None:
        """Add every entry of the open directory `fd` under `arcname` (sorted)."""
        with os.scandir(fd) as it:
            entries = sorted((e.name, e.stat(follow_symlinks=False)) for e in it)
        for child, cst in entries:
            prefix = arcname.rstrip("/") + "/" if arcname else ""
            self.add(fd, child, cst, prefix + child,
                     (cpath.rstrip("/") + "/" + child) if cpath != "/" else "/" + child)

    def add_root_contents(self, rootfd: int, arc_prefix: str = "") -> None:
        """Add every entry of an open directory, named from `arc_prefix` ("":
        `bin/`, `etc/passwd`... as `docker export` names them)."""
        self.add_children(rootfd, arc_prefix, "/")
