"""`docker cp`: the stat, the archive out of a container and the extraction into
it, each on a ContainerFs (runtime/cppath.py), blocking (run them in a thread).

What the archive of a path holds (Docker's rebase rules, daemon/archive.go):
a directory `/a/b` gives `b/`, `b/...`; `/a/b/.` gives `./`, `./...` (its
contents); a file or symlink one entry named after the path's last element.
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import BinaryIO, Callable

from boxnet.errors import InvalidParameter, NotFound
from boxnet.runtime import cppath, cpput, cpsend
from boxnet.runtime.cppath import ContainerFs, Resolver
from boxnet.runtime.cptar import Sink, TreeWriter, new_tar


def stat_path(fs: ContainerFs, requested: str) -> dict:
    """Docker's ContainerPathStat of `requested` (NotFound when absent)."""
    res = Resolver(fs)
    try:
        return cppath.path_stat(res, requested)[2]
    finally:
        res.close()


def prepare_get(fs: ContainerFs, requested: str) -> tuple[dict, Callable[[Callable], int]]:
    """(the stat of `requested`, write(push)): write(push) streams the tar of it
    in chunks to `push` and returns its size.  The stat is taken first so a
    missing path is a 404 before any byte of the body."""
    res = Resolver(fs)
    try:
        resolved, st, doc = cppath.path_stat(res, requested)
    except BaseException:
        res.close()
        raise
    base = doc["name"] if doc["name"] != "/" else "."

    def write(push: Callable[[bytes], None] | None = None, out: cpsend.Out | None = None) -> int:
        """The tar to `push` (through tarfile) or, given `out`, onto its fd
        (runtime/cpsend.py: sendfile, no copy through Python)."""
        sink = Sink(push) if out is None else out
        try:
            with (new_tar(sink) if out is None else cpsend.DirectTar(out)) as tar:
                tw = TreeWriter(tar, fs.skip)  # type: ignore[arg-type]
                if resolved == "/":
                    fd = res.open("/", os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        ti = tar.tarinfo(base)
                        ti.type, ti.mode = b"5", stat.S_IMODE(st.st_mode)
                        ti.mtime = st.st_mtime
                        tar.addfile(ti)
                        tw.add_children(fd, base, "/")
                    finally:
                        os.close(fd)
                else:
                    parent, name = posixpath.split(resolved)
                    pfd = res.open(parent, os.O_PATH | os.O_DIRECTORY)
                    try:
                        tw.add(pfd, name, os.stat(name, dir_fd=pfd, follow_symlinks=False),
                               base, resolved)
                    finally:
                        os.close(pfd)
            sink.flush()
            return sink.total
        finally:
            res.close()
    return doc, write


def put(fs: ContainerFs, requested: str, body: BinaryIO, no_overwrite_dir_non_dir: bool,
        owner: tuple[int, int] | None) -> int:
    """Extract the tar `body` into directory `requested` of the container
    (it must exist: NotFound, and be a directory: 400); returns the member count."""
    res = Resolver(fs)
    try:
        try:
            resolved = res.realpath(cppath.clean_abs(requested))
            st = res.lstat(resolved)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"Could not find the file {requested} in container") from None
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidParameter(f"extraction point is not a directory: {requested}")
        res.writable(resolved)
        return cpput.extract(res, resolved, body, no_overwrite_dir_non_dir, owner)
    finally:
        res.close()


def export_root(rootfs: str, push: Callable[[bytes], None]) -> int:
    """`docker export`: the tar of a container's whole root (`bin/`, `etc/...`,
    no volumes), streamed to `push`; returns its size."""
    sink = Sink(push)
    fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with new_tar(sink) as tar:
            TreeWriter(tar).add_root_contents(fd)
    finally:
        os.close(fd)
    sink.close()
    return sink.total
