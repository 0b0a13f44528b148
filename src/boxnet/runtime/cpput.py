"""Extracting an untrusted tar into a container (`docker cp` into it,
`PUT /containers/{id}/archive`), contained as Docker's chroot extraction is.

Containment: every member's parent directory is opened with openat2
RESOLVE_IN_ROOT (kernel/inroot.py) from the container's root, so `..`, an
absolute symlink or a chain of symlinks (planted by the archive itself or by
the container) resolve inside the root, as they would for a process chrooted
there; the member itself is then made relative to that directory fd and never
through a symlink (O_NOFOLLOW, mkdirat, symlinkat, linkat, fchownat with
AT_SYMLINK_NOFOLLOW).  Docker's own refusals are kept: a member whose name
leaves the extraction directory (`../x`), a hard link to outside it, a
relative symlink pointing above it ("invalid symlink"); the first refused
member stops the extraction with a 400 (what came before it stays, as Docker).

Docker's options: `noOverwriteDirNonDir` (a directory is not replaced by a
non-directory or the reverse), `copyUIDGID` (files owned by the container's
user instead of the archive's owners).  Leading "/" of member names is
dropped, owners (numeric), modes (setuid included) and mtimes are kept;
device nodes are refused naming the member; directories' mtimes are set once
their contents are written.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
from typing import BinaryIO, Callable

from boxnet.errors import Forbidden, InvalidParameter
from boxnet.runtime.cpbody import FdBody, open_tar, write_all
from boxnet.runtime.cppath import Resolver
from boxnet.runtime.layerstream import STREAM_ERRORS

CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _member_rel(name: str) -> str | None:
    """A member's path under the extraction dir, or None for the dir itself;
    InvalidParameter when it leaves it (Docker's breakout error)."""
    norm = posixpath.normpath("/" + name).lstrip("/") if name.startswith("/") else \
        posixpath.normpath(name)
    if norm == ".." or norm.startswith("../"):
        raise InvalidParameter(f"tar member {name!r} is outside of the extraction directory: "
                               f"refused (nothing is written outside the container's root)")
    return None if norm in (".", "") else norm


class Extractor:
    """Writes the members of one archive under `dest` (a resolved container dir)."""

    def __init__(self, res: Resolver, dest: str, no_overwrite_dir_non_dir: bool,
                 owner: tuple[int, int] | None):
        """`owner`: (uid, gid) for every member (copyUIDGID), None: the archive's."""
        self.res, self.dest = res, dest.rstrip("/") or "/"
        self.no_overwrite = no_overwrite_dir_non_dir
        self.owner = owner
        self._dirs: dict[str, int] = {}
        self._dir_times: list[tuple[str, int]] = []

    def close(self) -> None:
        """Close the cached directory fds."""
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def _forget(self, path: str) -> None:
        """Drop cached fds of `path` and below (it was replaced)."""
        for key in [k for k in self._dirs if k == path or k.startswith(path + "/")]:
            os.close(self._dirs.pop(key))

    def dir_fd(self, path: str) -> int:
        """A directory fd of container path `path`, made (0755, as Docker) when
        missing, resolved inside the root (cached)."""
        fd = self._dirs.get(path)
        if fd is not None:
            return fd
        try:
            fd = self.res.open(path, _DIR_FLAGS)
        except FileNotFoundError:
            parent, name = posixpath.split(path)
            pfd = self.dir_fd(parent)
            try:
                os.mkdir(name, 0o755, dir_fd=pfd)
            except FileExistsError:
                pass
            fd = self.res.open(path, _DIR_FLAGS)
        self._dirs[path] = fd
        return fd

    def _clear(self, pfd: int, name: str, path: str, is_dir: bool) -> bool:
        """Docker's rules for an existing entry; True when a directory stays
        (a directory member merges into it)."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        exists_dir = stat.S_ISDIR(st.st_mode)
        if self.no_overwrite and exists_dir and not is_dir:
            raise InvalidParameter(f"cannot overwrite directory {path!r} with non-directory")
        if self.no_overwrite and not exists_dir and is_dir:
            raise InvalidParameter(f"cannot overwrite non-directory {path!r} with directory")
        if exists_dir and is_dir:
            return True
        self._forget(path)
        if exists_dir:
            shutil.rmtree(name, dir_fd=pfd)   # fd-based: follows no symlink
        else:
            os.unlink(name, dir_fd=pfd)
        return False

    def _make(self, pfd: int, name: str, path: str, is_dir: bool, make: Callable[[], object]):
        """`make()` the entry `name` of `pfd` and return its value; when something
        is there already, Docker's rules (_clear) and, unless a directory stays
        for a directory member (None then), `make()` again.  Why not lstat
        first: a copy goes to a new directory mostly, where that lstat was a
        system call a member for nothing."""
        try:
            return make()
        except FileExistsError:
            if self._clear(pfd, name, path, is_dir):
                return None
        return make()

    def _owner(self, m: tarfile.TarInfo) -> tuple[int, int]:
        return self.owner if self.owner is not None else (m.uid, m.gid)

    def member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        """Write one member."""
        rel = _member_rel(m.name)
        if rel is None:
            return   # "." : the extraction directory itself stays as it is
        path = posixpath.join(self.dest, rel)
        parent, name = posixpath.split(path)
        if m.ischr() or m.isblk():
            raise InvalidParameter(f"tar member {m.name!r} is a device node: not created in "
                                   f"a container by `docker cp` in boxnet")
        if m.issym() and not m.linkname.startswith("/"):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.linkname))
            if target == ".." or target.startswith("../"):
                raise InvalidParameter(f"invalid symlink {m.name!r} -> {m.linkname!r}: it "
                                       f"points outside of the extraction directory")
        pfd = self.dir_fd(parent)
        uid, gid = self._owner(m)
        if m.isdir():
            self._make(pfd, name, path, True, lambda: os.mkdir(name, 0o700, dir_fd=pfd))
            fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, m.mode & 0o7777)
            finally:
                os.close(fd)
            self._dir_times.append((path, int(m.mtime * 1e9)))
        elif m.isreg():
            fd = self._make(pfd, name, path, False, lambda: os.open(
                name, _FILE_FLAGS, 0o600, dir_fd=pfd))
            try:
                body = tar.fileobj
                if isinstance(body, FdBody) and not m.issparse():
                    body.seek(m.offset_data)
                    if body.move_to(fd, m.size) < m.size:
                        raise InvalidParameter(f"tar member {m.name!r} is truncated")
                else:
                    src = tar.extractfile(m)
                    left = m.size
                    while left > 0:
                        data = src.read(min(CHUNK, left))
                        if not data:
                            raise InvalidParameter(f"tar member {m.name!r} is truncated")
                        write_all(fd, data)
                        left -= len(data)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, m.mode & 0o7777)   # after chown: it clears setuid
                os.utime(fd, ns=(int(m.mtime * 1e9),) * 2)
            finally:
                os.close(fd)
        elif m.issym():
            self._make(pfd, name, path, False,
                       lambda: os.symlink(m.linkname, name, dir_fd=pfd))
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, ns=(int(m.mtime * 1e9),) * 2, dir_fd=pfd, follow_symlinks=False)
        elif m.islnk():
            src_rel = _member_rel(m.linkname)
            if src_rel is None:
                raise InvalidParameter(f"invalid hard link {m.name!r} -> {m.linkname!r}")
            spath = posixpath.join(self.dest, src_rel)
            sparent, sname = posixpath.split(spath)
            sfd = self.dir_fd(sparent)
            self._make(pfd, name, path, False, lambda: os.link(
                sname, name, src_dir_fd=sfd, dst_dir_fd=pfd, follow_symlinks=False))
        elif m.isfifo():
            self._make(pfd, name, path, False,
                       lambda: os.mkfifo(name, m.mode & 0o7777, dir_fd=pfd))
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        else:
            raise InvalidParameter(f"tar member {m.name!r} has an unsupported type "
                                   f"{m.type!r}")

    def finish(self) -> None:
        """Set the directories' mtimes (deepest first: a child's write moved them)."""
        for path, ns in sorted(self._dir_times, key=lambda x: -x[0].count("/")):
            try:
                fd = self.res.open(path, _DIR_FLAGS | os.O_NOFOLLOW)
            except OSError:
                continue   # replaced by a later member
            try:
                os.utime(fd, ns=(ns, ns))
            finally:
                os.close(fd)


def extract(res: Resolver, dest: str, body: BinaryIO, no_overwrite_dir_non_dir: bool,
            owner: tuple[int, int] | None) -> int:
    """Extract the (plain, gzip, bzip2 or xz) tar `body` under container dir
    `dest`; returns the number of members.  Blocking: run it in a thread or
    the worker process."""
    ex = Extractor(res, dest, no_overwrite_dir_non_dir, owner)
    n = 0
    try:
        with open_tar(body) as tar:
            for m in tar:
                ex.member(tar, m)
                n += 1
        ex.finish()
    except InvalidParameter:
        raise
    except OSError as e:
        if e.errno == errno.EROFS:
            raise Forbidden("container rootfs is marked read-only (or the destination is "
                            "on a read-only mount)") from None
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InvalidParameter(f"no space left in the container: {e}") from None
        if e.errno in (errno.ENOTDIR, errno.EEXIST, errno.ELOOP, errno.ENOENT, errno.EISDIR):
            raise InvalidParameter(f"cannot extract the archive: {e}") from None
        raise
    except STREAM_ERRORS as e:
        raise InvalidParameter(f"bad tar archive: {e}") from None
    finally:
        ex.close()
    return n
