"""The local driver's options (`docker volume create -o type=.. -o o=.. -o device=..`),
decided without I/O: what `_data` is (a plain directory, a tmpfs, a bind of a
host path) and with which mount options.

boxnet's local driver mounts two kinds, as Docker's does on Linux with those
options: `type=tmpfs` (device ignored as by the kernel; `o=size=64m,mode=0700,
uid=..,gid=..,nr_inodes=..` and the flags ro/nosuid/nodev/noexec) and
`type=none` with `o=bind` (or `rbind`; plus ro) of `device=/abs/path`.  Other
filesystem types (nfs, ext4, cifs...) and the `size` quota option are refused
naming the option: a silent ignore would store the data somewhere else than
asked.
"""

from __future__ import annotations

import os
import re

import msgspec

from ..errors import InvalidParameter

KEYS = ("type", "o", "device")
FLAGS = frozenset({"ro", "rw", "nosuid", "nodev", "noexec", "exec", "suid", "dev"})
_TMPFS_DATA = re.compile(r"^(size|mode|uid|gid|nr_inodes|nr_blocks)=[0-9a-zA-Z%]+$")


class LocalPlan(msgspec.Struct, kw_only=True, frozen=True):
    """What to mount at a volume's `_data`: kind "dir" (nothing), "tmpfs" or "bind"."""

    kind: str = "dir"
    source: str = ""               # bind: the host path
    flags: tuple[str, ...] = ()    # ro, nosuid, nodev, noexec (exec, suid, dev undo them)
    data: str = ""                 # tmpfs: size=..,mode=..


def plan(opts: dict[str, str] | None) -> LocalPlan:
    """The LocalPlan of driver options `opts`; InvalidParameter naming the
    option boxnet cannot honour."""
    opts = dict(opts or {})
    for k, v in opts.items():
        if k not in KEYS:
            raise InvalidParameter(f'invalid option key: "{k}" (the local driver takes '
                                   f'type, o and device)')
        if not isinstance(v, str):
            raise InvalidParameter(f'invalid option "{k}": a string is needed (got {v!r})')
    if not opts:
        return LocalPlan()
    fstype, device = opts.get("type", ""), opts.get("device", "")
    o = [x for x in opts.get("o", "").split(",") if x]
    if not fstype:
        raise InvalidParameter('missing required option: "type" (the local driver mounts '
                               'type=tmpfs, or type=none with o=bind)')
    if fstype == "tmpfs":
        flags, data = [], []
        for x in o:
            if x in FLAGS:
                flags.append(x)
            elif _TMPFS_DATA.match(x):
                data.append(x)
            else:
                raise InvalidParameter(f'invalid option "o": tmpfs does not take {x!r}')
        return LocalPlan(kind="tmpfs", flags=tuple(flags), data=",".join(data))
    if fstype == "none":
        if "bind" not in o and "rbind" not in o:
            raise InvalidParameter('invalid option "o": type=none needs o=bind')
        bad = [x for x in o if x not in ("bind", "rbind") and x not in FLAGS]
        if bad:
            raise InvalidParameter(f'invalid option "o": a bind does not take {bad[0]!r}')
        if not device or not os.path.isabs(device):
            raise InvalidParameter(f'invalid option "device": a bind needs an absolute '
                                   f'host path (got {device!r})')
        return LocalPlan(kind="bind", source=os.path.normpath(device),
                         flags=tuple(x for x in o if x in FLAGS))
    raise InvalidParameter(f'invalid option "type": {fstype!r} is not supported by boxnet\'s '
                           f'local driver (tmpfs, or none with o=bind)')
