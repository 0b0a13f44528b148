"""Mounts and file copies of volumes (volumes/store.py): a tmpfs or a bind at
a volume's `_data`, the copy-up of an image's directory into a new volume, a
volume's size.

The mounts live in boxnetd's mount namespace (the host's); a container gets
them through the rbind runc makes of `_data`.  They are made private, so
a later mount below the data root does not propagate into them (or out).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat

from .runc import MS_BIND, MS_PRIVATE, MS_RDONLY, MS_REMOUNT, _mount, is_mountpoint, umount

MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC = 0x2, 0x4, 0x8, 0x4000
_FLAG_BITS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
_UNDO = {"rw": "ro", "suid": "nosuid", "dev": "nodev", "exec": "noexec"}


def _bits(flags: tuple[str, ...] | list[str]) -> int:
    bits = 0
    for f in flags:
        if f in _FLAG_BITS:
            bits |= _FLAG_BITS[f]
        elif f in _UNDO:
            bits &= ~_FLAG_BITS[_UNDO[f]]
    return bits


def mount_tmpfs(target: str, flags: tuple[str, ...], data: str) -> None:
    """Mount a new tmpfs at `target` (idempotent: nothing if one is there)."""
    if is_mountpoint(target):
        return
    _mount("tmpfs", target, "tmpfs", _bits(flags), data or None)
    _mount("none", target, None, MS_PRIVATE, None)


def mount_bind(source: str, target: str, flags: tuple[str, ...]) -> None:
    """Bind `source` (with its submounts) at `target`, private; read-only when
    "ro" is in `flags` (a bind takes its flags only from a remount)."""
    if is_mountpoint(target):
        return
    _mount(source, target, None, MS_BIND | MS_REC, None)
    try:
        _mount("none", target, None, MS_PRIVATE | MS_REC, None)
        bits = _bits(flags)
        if bits:
            _mount("none", target, None, MS_BIND | MS_REMOUNT | bits, None)
    except OSError:
        umount(target)
        raise


def unmount(target: str) -> None:
    """Unmount what boxnet mounted at `target` (nothing mounted: no error)."""
    while is_mountpoint(target):   # a bind remounted once is still one mount
        umount(target)


def is_empty_dir(path: str) -> bool:
    """True when `path` is a directory with nothing in it."""
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except (FileNotFoundError, NotADirectoryError):
        return False


def resolve_in_root(root: str, path: str, max_links: int = 40) -> str | None:
    """`path` of the tree at `root` resolved as inside a chroot there: symlinks
    (absolute or with ..) are followed, but never out of `root` (moby's
    FollowSymlinkInScope).  Why: an image's symlink /data -> /etc would otherwise
    make a copy-up read the host's /etc.  None when a component is missing or
    the links loop."""
    root = os.path.realpath(root)
    todo = [p for p in path.split("/") if p]
    done = ""   # resolved so far, relative to root, no symlinks in it
    links = 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            done = posixpath.dirname(done)
            continue
        cand = posixpath.join(done, part)
        full = os.path.join(root, cand)
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > max_links:
                return None
            target = os.readlink(full)
            if target.startswith("/"):
                done = ""
            todo = [p for p in target.split("/") if p] + todo
            continue
        done = cand
    return os.path.join(root, done) if done else root


def copy_up(source: str, target: str) -> bool:
    """Copy the tree under `source` (an image's directory, no symlink) into the
    empty directory `target`, keeping owners, modes (setuid included), times,
    extended attributes (file capabilities), symlinks, hard links, fifos and
    device nodes as they are; the target takes the source directory's owner and
    mode, as Docker's copy-up does.  False when `source` is not a directory."""
    if not os.path.isdir(source) or os.path.islink(source):
        return False
    links: dict[tuple[int, int], str] = {}
    todo = [(source, target)]
    done_dirs = []
    while todo:   # iterative: an image's deep tree cannot hit the recursion limit
        src_dir, dst_dir = todo.pop()
        with os.scandir(src_dir) as it:
            entries = list(it)
        for e in entries:
            src, dst = e.path, os.path.join(dst_dir, e.name)
            st = e.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(dst, 0o700)
                todo.append((src, dst))
                done_dirs.append((src, dst, st))
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
                os.link(links[(st.st_dev, st.st_ino)], dst)
                continue
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISREG(st.st_mode):
                shutil.copyfile(src, dst, follow_symlinks=False)
                if st.st_nlink > 1:
                    links[(st.st_dev, st.st_ino)] = dst
            else:   # a fifo or a device node: made again, never opened (a fifo would block)
                os.mknod(dst, st.st_mode, st.st_rdev)
            _meta(src, dst, st)
    # directories last, deepest first: their times are not changed by what goes in them
    for src, dst, st in reversed(done_dirs):
        _meta(src, dst, st)
    _meta(source, target, os.lstat(source))
    return True


def _meta(src: str, dst: str, st: os.stat_result) -> None:
    """Owner first (chown clears setuid bits and file capabilities), then mode,
    times and extended attributes."""
    os.lchown(dst, st.st_uid, st.st_gid)
    shutil.copystat(src, dst, follow_symlinks=False)


def tree_size(path: str) -> int:
    """Bytes used by the files under `path` (hard links counted once), -1 if absent."""
    if not os.path.isdir(path):
        return -1
    seen, total = set(), 0
    for dirpath, _dirs, files in os.walk(path):
        for n in files:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def is_mounted_below(path: str) -> bool:
    """True when `path` or anything under it is a mount point (per /proc/self/mountinfo)."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            mp = line.split(b" ", 5)[4].decode("unicode_escape")
            if mp == path or mp.startswith(path + "/"):
                return True
    return False
