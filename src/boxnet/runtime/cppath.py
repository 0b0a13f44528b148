"""Paths inside a container's root for `docker cp`: where a container path lives
on the host, its stat as Docker reports it, and Docker's path rules.

A container's files are seen through a `ContainerFs`: a root directory (the
running container's `/proc/<pid>/root`, whose mounts, volumes and binds are all
visible through it, or the bundle's root of a stopped one) plus, for a stopped
container, its volumes and binds (a path under a mount's destination is looked
up in the mount's source).  Every lookup goes through openat2 RESOLVE_IN_ROOT
(kernel/inroot.py): no symlink, absolute or relative, leads out of the root.

Docker's rules (daemon/archive.go): the path is absolute in the container; a
trailing "/" or "/." is kept (`PreserveTrailingDotOrSeparator`); the directory
part is resolved following symlinks, the last element is not (a symlink is
copied as a symlink) unless the path ends in "/" or "/.".
"""

from __future__ import annotations

import base64
import datetime as dt
import errno
import json
import os
import posixpath
import stat
from dataclasses import dataclass, field

from boxnet.errors import Forbidden, InvalidParameter, NotFound
from boxnet.kernel import inroot

# Go's os.FileMode type bits (what the CLI decodes from the stat header).
MODE_DIR, MODE_SYMLINK, MODE_DEVICE = 1 << 31, 1 << 27, 1 << 26
MODE_PIPE, MODE_SOCKET, MODE_SETUID, MODE_SETGID = 1 << 25, 1 << 24, 1 << 23, 1 << 22
MODE_CHARDEV, MODE_STICKY = 1 << 21, 1 << 20
MAX_LINKS = 40   # symlinks followed in one resolution, as the kernel's limit


@dataclass
class Mount:
    """A volume or bind of a stopped container: `destination` in the container
    is `source` on the host."""

    destination: str
    source: str
    rw: bool = True


@dataclass
class ContainerFs:
    """A container's files as `docker cp` sees them (see the module doc)."""

    root: str                       # host path of the container's "/"
    mounts: list[Mount] = field(default_factory=list)   # stopped containers only
    readonly: bool = False          # the root itself refuses writes
    skip: tuple[str, ...] = ()      # container dirs never descended into (/proc of a running one)

    def locate(self, path: str) -> tuple[str, str, bool]:
        """(host root, path under it, writable) of a clean absolute container path:
        the mount with the longest destination holding it, else the root."""
        best = None
        for m in self.mounts:
            d = m.destination.rstrip("/") or "/"
            if path == d or path.startswith(d + "/") or d == "/":
                if best is None or len(d) > len(best.destination.rstrip("/")):
                    best = m
        if best is None:
            return self.root, path, not self.readonly
        d = best.destination.rstrip("/")
        return best.source, path[len(d):] or "/", best.rw


def clean_abs(path: str) -> str:
    """`path` as a clean absolute container path ("a/../b" -> "/b")."""
    if "\0" in path:
        raise InvalidParameter("path: a NUL byte is not allowed")
    return posixpath.normpath("/" + path).replace("//", "/")


def wants_contents(path: str) -> bool:
    """Docker's "/." suffix: the directory's contents, not the directory."""
    return path == "." or path.endswith("/.")


def follows_last(path: str) -> bool:
    """Whether the last element is resolved (a trailing "/" or "/.")."""
    return path.endswith("/") or wants_contents(path)


def base_name(path: str) -> str:
    """Go's filepath.Base of the requested path with Docker's trailing rules
    ("/a/b/" -> "b", "/a/." -> ".", "/" -> "/")."""
    if wants_contents(path):
        return "."
    stripped = path.rstrip("/")
    return posixpath.basename(stripped) if stripped else "/"


class Resolver:
    """Resolves container paths of one ContainerFs through openat2, keeping the
    root fds it opened (close() them)."""

    def __init__(self, fs: ContainerFs):
        """Nothing opened yet."""
        self.fs = fs
        self._roots: dict[str, int] = {}

    def close(self) -> None:
        """Close every root fd."""
        for fd in self._roots.values():
            os.close(fd)
        self._roots.clear()

    def root_fd(self, host_root: str) -> int:
        """An O_PATH fd of a host root (kept)."""
        fd = self._roots.get(host_root)
        if fd is None:
            try:
                fd = self._roots[host_root] = inroot.open_root(host_root)
            except FileNotFoundError:
                raise NotFound(f"the container's root {host_root} is gone") from None
        return fd

    def open(self, path: str, flags: int, mode: int = 0) -> int:
        """Open a clean absolute container path (every symlink resolved in the root)."""
        host_root, rel, _ = self.fs.locate(path)
        return inroot.open_in_root(self.root_fd(host_root), rel, flags, mode)

    def realpath(self, path: str) -> str:
        """The container path `path` resolves to (every symlink followed, in the
        root): Docker's linkTarget of a symlink.  Walked component by component
        with readlinkat on directory fds opened in the root."""
        done: list[str] = []
        todo = [p for p in path.split("/") if p]
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            parent = self.open("/" + "/".join(done), os.O_PATH | os.O_DIRECTORY)
            try:
                try:
                    target = os.readlink(part, dir_fd=parent)
                except OSError as e:
                    if e.errno not in (errno.EINVAL, errno.ENOENT):
                        raise
                    done.append(part)
                    continue
            finally:
                os.close(parent)
            hops += 1
            if hops > MAX_LINKS:
                raise InvalidParameter(f"too many levels of symbolic links in {path}")
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p] + todo
        return "/" + "/".join(done)

    def lookup(self, requested: str) -> tuple[str, os.stat_result]:
        """Docker's ResolvePath + lstat: (the container path the request names,
        its lstat).  The directory part is resolved; the last element is
        followed only with a trailing "/" or "/."; NotFound when absent."""
        absolute = clean_abs(requested)
        try:
            if follows_last(requested):
                resolved = self.realpath(absolute)
            else:
                parent, name = posixpath.split(absolute)
                resolved = posixpath.join(self.realpath(parent), name) if name else "/"
            st = self.lstat(resolved)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"Could not find the file {requested} in container") from None
        if follows_last(requested) and not stat.S_ISDIR(st.st_mode):
            raise InvalidParameter(f"not a directory: {requested}")
        return resolved, st

    def lstat(self, path: str) -> os.stat_result:
        """lstat of a clean container path (its parent resolved in the root)."""
        if path == "/":
            return os.stat(self.root_fd(self.fs.locate("/")[0]))
        parent, name = posixpath.split(path)
        host_root, rel, _ = self.fs.locate(path)
        if rel == "/":   # a mount's destination itself: its source
            return os.stat(self.root_fd(host_root))
        pfd = self.open(parent, os.O_PATH | os.O_DIRECTORY)
        try:
            return os.stat(name, dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)

    def writable(self, path: str) -> None:
        """Forbidden unless a write at `path` would land on a writable tree."""
        if not self.fs.locate(path)[2]:
            raise Forbidden(f"container rootfs is marked read-only (or {path} is on a "
                            f"read-only mount)")


def go_mode(st_mode: int) -> int:
    """A stat mode as Go's os.FileMode (Docker's stat header and the CLI)."""
    m = st_mode & 0o777
    fmt = stat.S_IFMT(st_mode)
    m |= {stat.S_IFDIR: MODE_DIR, stat.S_IFLNK: MODE_SYMLINK, stat.S_IFIFO: MODE_PIPE,
          stat.S_IFSOCK: MODE_SOCKET, stat.S_IFBLK: MODE_DEVICE,
          stat.S_IFCHR: MODE_DEVICE | MODE_CHARDEV}.get(fmt, 0)
    if st_mode & stat.S_ISUID:
        m |= MODE_SETUID
    if st_mode & stat.S_ISGID:
        m |= MODE_SETGID
    if st_mode & stat.S_ISVTX:
        m |= MODE_STICKY
    return m


def rfc3339_ns(ns: int) -> str:
    """Nanoseconds since the epoch as Go's RFC 3339 with nanoseconds (UTC)."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def path_stat(res: Resolver, requested: str) -> tuple[str, os.stat_result, dict]:
    """(resolved path, lstat, Docker's ContainerPathStat) of a requested path."""
    resolved, st = res.lookup(requested)
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = res.realpath(resolved)
    doc = {"name": base_name(clean_abs(requested) if not follows_last(requested)
                             else requested), "size": st.st_size, "mode": go_mode(st.st_mode),
           "mtime": rfc3339_ns(st.st_mtime_ns), "linkTarget": link}
    return resolved, st, doc


def stat_header(doc: dict) -> str:
    """The X-Docker-Container-Path-Stat header value: base64 of the JSON."""
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
