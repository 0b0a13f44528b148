"""Who a container process runs as: `--user`, the image's USER and `--group-add`,
resolved from the container's own /etc/passwd and /etc/group, with Docker's rules
(those of runc's libcontainer/user, which dockerd uses):

- "" means root (uid 0), or the first passwd entry with uid 0 when there is one.
- "name" or "uid", optionally ":group" or ":gid".  A name must be in /etc/passwd
  ("unable to find user xyz: no matching entries in passwd file"); a numeric uid
  with no entry is fine (gid 0, HOME /).  A named group must be in /etc/group; a
  numeric gid need not be.
- Supplementary groups: every /etc/group entry listing the user, only when no
  group is given explicitly; then each --group-add (name from /etc/group, or a
  number).

The files are read from the container's root filesystem, which the image (or
the container itself, for an exec) controls: the walk never leaves that root
(symlinks resolve inside it, as in a chroot), and only a regular file of bounded
size is read, so a hostile image cannot make the daemon read a host file, block
on a FIFO or swallow /dev/zero.
"""

from __future__ import annotations

import errno
import os
import stat

import msgspec

from boxnet.errors import InvalidParameter

MAX_ID = 2**31 - 1            # libcontainer's maxId
MAX_FILE = 8 << 20            # bytes read from /etc/passwd or /etc/group at most
MAX_LINKS = 40                # symlinks followed in one lookup (as the kernel's ELOOP)


class ExecUser(msgspec.Struct, kw_only=True):
    """A resolved user: the OCI process.user fields."""

    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = []

    def oci(self) -> dict:
        """The OCI config's process.user object."""
        out: dict = {"uid": self.uid, "gid": self.gid}
        if self.additional_gids:
            out["additionalGids"] = list(self.additional_gids)
        return out


def _fields(line: str, n: int) -> list[str] | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    parts = line.split(":")
    return parts + [""] * (n - len(parts))


def parse_passwd(text: str) -> list[tuple[str, int, int, str]]:
    """(name, uid, gid, home) of each well-formed /etc/passwd line, in order."""
    out = []
    for line in text.splitlines():
        p = _fields(line, 7)
        if p is None:
            continue
        try:
            out.append((p[0], int(p[2]), int(p[3]), p[5]))
        except ValueError:
            continue  # libcontainer skips lines it cannot parse too
    return out


def parse_group(text: str) -> list[tuple[str, int, list[str]]]:
    """(name, gid, members) of each well-formed /etc/group line, in order."""
    out = []
    for line in text.splitlines():
        p = _fields(line, 4)
        if p is None:
            continue
        try:
            out.append((p[0], int(p[2]), [m for m in p[3].split(",") if m]))
        except ValueError:
            continue
    return out


def _number(text: str) -> int | None:
    # Why ascii: int() would take "１２" (fullwidth digits) as 12.
    return int(text) if text.isascii() and text.isdigit() else None


def _in_range(value: int, what: str, spec: str) -> int:
    if not 0 <= value <= MAX_ID:
        raise InvalidParameter(f"{what} {value} in {spec!r} is out of range (0 to {MAX_ID})")
    return value


def check_spec(spec: str) -> None:
    """Syntax of a --user value (400 when malformed), before any file is read."""
    user, sep, group = spec.partition(":")
    if ":" in group:
        raise InvalidParameter(f"invalid user {spec!r}: expected user[:group] "
                               f"(a name or a number each)")
    if any(c.isspace() for c in spec):
        raise InvalidParameter(f"invalid user {spec!r}: it contains white space")


def resolve(spec: str, group_add: list[str], passwd: str | None,
            group: str | None) -> ExecUser:
    """The user, group and supplementary groups of `spec` (see the module docstring).

    `passwd`/`group` are the files' text, None when the file does not exist."""
    check_spec(spec)
    user_arg, _, group_arg = spec.partition(":")
    uid_num, gid_num = _number(user_arg), _number(group_arg)
    users = parse_passwd(passwd or "")
    if not user_arg:
        match = [u for u in users if u[1] == 0]
    elif uid_num is not None:
        match = [u for u in users if u[1] == uid_num]
    else:
        match = [u for u in users if u[0] == user_arg]
    out = ExecUser()
    name = ""
    if match:
        name, out.uid, out.gid = match[0][0], match[0][1], match[0][2]
    elif user_arg:
        if uid_num is None:
            raise InvalidParameter(f"unable to find user {user_arg}: no matching entries "
                                   f"in passwd file")
        out.uid = _in_range(uid_num, "uid", spec)
    groups = parse_group(group or "")
    if group_arg:
        found = [g for g in groups if (g[1] == gid_num if gid_num is not None
                                       else g[0] == group_arg)]
        if found:
            out.gid = found[0][1]
        elif gid_num is None:
            raise InvalidParameter(f"unable to find group {group_arg}: no matching entries "
                                   f"in group file")
        else:
            out.gid = _in_range(gid_num, "gid", spec)
    elif name:
        out.additional_gids = [g[1] for g in groups if name in g[2]]
    for extra in group_add:
        gid = _number(extra)
        if gid is None:
            found = [g for g in groups if g[0] == extra]
            if not found:
                raise InvalidParameter(f"unable to find group {extra}: no matching entries "
                                       f"in group file (--group-add)")
            gid = found[0][1]
        gid = _in_range(gid, "gid", extra)
        if gid not in out.additional_gids:
            out.additional_gids.append(gid)
    return out


def read_in_root(root: str, path: str, limit: int = MAX_FILE) -> str | None:
    """The text of `path` inside the tree at `root`, as a process chrooted there
    would open it; None when it does not exist.  Symlinks (absolute ones too)
    resolve inside `root` and ".." stops at it; each step opens relative to the
    previous directory's fd, so swapping a directory for a symlink meanwhile
    cannot lead outside.  Only a regular file of at most `limit` bytes is read."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
    todo = [p for p in path.split("/") if p]
    links = 0
    try:
        while todo:
            part = todo.pop(0)
            if part == ".":
                continue
            if part == "..":
                if len(fds) > 1:
                    os.close(fds.pop())
                continue
            try:
                st = os.stat(part, dir_fd=fds[-1], follow_symlinks=False)
            except FileNotFoundError:
                return None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise InvalidParameter(f"too many symbolic links resolving {path} "
                                           f"in the container")
                target = os.readlink(part, dir_fd=fds[-1])
                if target.startswith("/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                todo = [p for p in target.split("/") if p] + todo
                continue
            # Why O_PATH for the file: opening a device node the container made
            # (it holds CAP_MKNOD) would open the host's device; an O_PATH fd opens
            # nothing, and is re-opened for reading only once it is a regular file.
            flags = os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_RDONLY | os.O_DIRECTORY if todo
                                                    else os.O_PATH)
            try:
                fds.append(os.open(part, flags, dir_fd=fds[-1]))
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENOTDIR):
                    return None
                if e.errno == errno.ELOOP:  # became a symlink after the stat above
                    raise InvalidParameter(f"{path} in the container changed while it was "
                                           f"read") from None
                raise
        if len(fds) == 1:
            return None  # the path named the root itself
        st = os.fstat(fds[-1])
        if not stat.S_ISREG(st.st_mode):
            raise InvalidParameter(f"{path} in the container is not a regular file")
        if st.st_size > limit:
            raise InvalidParameter(f"{path} in the container is larger than {limit} bytes")
        fds.append(os.open(f"/proc/self/fd/{fds[-1]}", os.O_RDONLY | os.O_CLOEXEC))
        data = os.read(fds[-1], limit + 1)
        if len(data) > limit:
            raise InvalidParameter(f"{path} in the container is larger than {limit} bytes")
        return data.decode("utf-8", errors="replace")
    finally:
        for fd in fds:
            os.close(fd)


def resolve_in_rootfs(rootfs: str, spec: str, group_add: list[str]) -> ExecUser:
    """resolve() against the container's own /etc/passwd and /etc/group."""
    check_spec(spec)
    return resolve(spec, group_add, read_in_root(rootfs, "/etc/passwd"),
                   read_in_root(rootfs, "/etc/group"))
