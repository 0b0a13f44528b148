"""What this host lets a container's process have: limits, devices, the init.

Read from the daemon's own process and from /dev, once where it cannot change
(results cached).  Why a probe at all: runc sets `process.rlimits` and
`process.oomScoreAdj` from its own process (prlimit on the container's init,
a write to /proc/<pid>/oom_score_adj), with boxnetd's capabilities.  On this
VM boxnetd runs without CAP_SYS_RESOURCE, so the kernel refuses to raise a
hard limit above boxnetd's own (EPERM: "error setting rlimit type 7") and to
lower oom_score_adj below boxnetd's, and runc cannot give a capability
boxnetd's bounding set lacks ("unable to apply caps"); such a request is
refused at create with a 400 naming it instead of failing at start
(runtime/procopts.py), and ALL / privileged mean every capability boxnetd holds.
"""

from __future__ import annotations

import functools
import os
import resource
import stat

import msgspec

CAP_SYS_RESOURCE = 24
# Docker's docker-init is tini linked statically (the container may have no libc).
INIT_CANDIDATES = ("/usr/bin/tini-static", "/usr/local/bin/docker-init", "/usr/bin/docker-init")

RLIMITS = {"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
           "fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
           "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
           "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
           "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK"}
UNLIMITED = 2 ** 64 - 1   # RLIM_INFINITY as the OCI spec's uint64
# Linux's resource numbers (Python's `resource` lacks some, e.g. RLIMIT_LOCKS).
_NUMBERS = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6,
            "nofile": 7, "memlock": 8, "as": 9, "locks": 10, "sigpending": 11,
            "msgqueue": 12, "nice": 13, "rtprio": 14, "rttime": 15}


class HostFacts(msgspec.Struct, kw_only=True, frozen=True):
    """The limits runc can give a container on this host."""

    can_raise: bool                 # CAP_SYS_RESOURCE: any hard limit, any oom_score_adj
    hard: dict[str, int]            # ulimit name -> boxnetd's hard limit (UNLIMITED: none)
    oom_score_adj: int              # boxnetd's: the lowest a container may get without the cap
    init_path: str                  # tini to bind at /sbin/docker-init ("" none installed)
    cap_bounding: int = (1 << 41) - 1   # boxnetd's bounding set: no container can get more


def _cap_mask(which: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(which + ":"):
                return int(line.split()[1], 16)
    return 0


@functools.cache
def host_facts() -> HostFacts:
    """This daemon's limits (cached: they do not change while it runs)."""
    hard = {}
    for name in RLIMITS:
        h = resource.getrlimit(_NUMBERS[name])[1]
        hard[name] = UNLIMITED if h == resource.RLIM_INFINITY else h
    try:
        with open("/proc/self/oom_score_adj") as f:
            oom = int(f.read().strip() or 0)
    except OSError:
        oom = 0
    init = next((p for p in INIT_CANDIDATES if os.access(p, os.X_OK)), "")
    return HostFacts(can_raise=bool(_cap_mask("CapEff") >> CAP_SYS_RESOURCE & 1), hard=hard,
                     oom_score_adj=oom, init_path=init, cap_bounding=_cap_mask("CapBnd"))


def device_node(path: str, in_container: str = "") -> dict | None:
    """The OCI linux.devices entry of the device node at `path` (seen in the
    container at `in_container`, default the same path); None when `path` is
    not a character or block device (missing, a directory, a file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return {"path": in_container or path, "type": kind, "major": os.major(st.st_rdev),
            "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
            "uid": st.st_uid, "gid": st.st_gid}


def devices_under(path: str, in_container: str = "") -> list[dict]:
    """Every device node under the directory `path` (Docker's --device of a
    directory), mapped below `in_container`; [] when there is none."""
    out = []
    dest = in_container or path
    for root, _dirs, files in os.walk(path):
        for name in sorted(files):
            full = os.path.join(root, name)
            node = device_node(full, os.path.join(dest, os.path.relpath(full, path)))
            if node is not None:
                out.append(node)
    return out


# moby's HostDevices skips these: pseudo-terminals and mounts runc makes itself.
_SKIP_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}


def host_devices() -> list[dict]:
    """Every device node of the host's /dev (a privileged container's), as moby
    lists them: not /dev/console, /dev/pts, /dev/shm, /dev/mqueue, and no symlinks."""
    out = []
    for root, dirs, files in os.walk("/dev"):
        if root == "/dev":
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in sorted(files):
            full = os.path.join(root, name)
            if full == "/dev/console" or os.path.islink(full):
                continue
            node = device_node(full)
            if node is not None:
                out.append(node)
    return out


def device_nodes(path: str, in_container: str) -> list[dict]:
    """The devices `--device path:in_container` maps: the node itself, or every
    node under a directory; [] when `path` is neither."""
    if os.path.isdir(path):
        return devices_under(path, in_container)
    node = device_node(path, in_container)
    return [node] if node is not None else []
