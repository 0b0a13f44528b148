"""The host's cgroups: what they can limit, and a container's usage and OOM kills.

Works with cgroup v1 (one hierarchy per controller), v2 (one unified
hierarchy) and the hybrid of both (v1 controllers, an empty v2 tree beside
them, as on this VM).  A container's cgroup directories are the ones runc
recorded in its state.json (`cgroup_paths`: controller -> directory, the
key "" being the v2 directory), so they are found also after the init died.

Everything here reads small files; nothing writes a cgroup (runc does).
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from boxnet.errors import InvalidParameter

CGROUP_ROOT = "/sys/fs/cgroup"
# field -> (v1 controller, file proving it) / (v2 controller, file).
_V1 = {"Memory": ("memory", "memory.limit_in_bytes"),
       "MemorySwap": ("memory", "memory.memsw.limit_in_bytes"),
       "MemoryReservation": ("memory", "memory.soft_limit_in_bytes"),
       "MemorySwappiness": ("memory", "memory.swappiness"),
       "CpuShares": ("cpu", "cpu.shares"), "NanoCpus": ("cpu", "cpu.cfs_quota_us"),
       "CpuPeriod": ("cpu", "cpu.cfs_period_us"), "CpuQuota": ("cpu", "cpu.cfs_quota_us"),
       "CpusetCpus": ("cpuset", "cpuset.cpus"), "CpusetMems": ("cpuset", "cpuset.mems"),
       "PidsLimit": ("pids", None), "BlkioWeight": ("blkio", "blkio.weight"),
       "OomKillDisable": ("memory", "memory.oom_control"),
       "BlkioDeviceReadBps": ("blkio", "blkio.throttle.read_bps_device"),
       "BlkioDeviceWriteBps": ("blkio", "blkio.throttle.write_bps_device"),
       "BlkioDeviceReadIOps": ("blkio", "blkio.throttle.read_iops_device"),
       "BlkioDeviceWriteIOps": ("blkio", "blkio.throttle.write_iops_device")}
_V2 = {"Memory": "memory", "MemorySwap": "memory", "MemoryReservation": "memory",
       "CpuShares": "cpu", "NanoCpus": "cpu", "CpuPeriod": "cpu", "CpuQuota": "cpu",
       "CpusetCpus": "cpuset", "CpusetMems": "cpuset", "PidsLimit": "pids",
       "BlkioWeight": "io", "BlkioDeviceReadBps": "io", "BlkioDeviceWriteBps": "io",
       "BlkioDeviceReadIOps": "io", "BlkioDeviceWriteIOps": "io"}


class HostCgroups(NamedTuple):
    """What the host's cgroups can limit (probe()); runtime/resources.py checks
    requests against it."""

    version: int                 # 1 or 2
    supported: frozenset[str]    # HostConfig fields the host's controllers have files for
    cpus: frozenset[int]         # CPUs containers may use
    mems: frozenset[int]         # memory nodes


def block_device(path: str) -> tuple[int, int]:
    """(major, minor) of the block device at `path` (a throttled device of
    --device-read-bps...); InvalidParameter naming it otherwise."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise InvalidParameter(f"invalid device {path!r} for a blkio throttle: "
                               f"{e.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise InvalidParameter(f"invalid device {path!r} for a blkio throttle: "
                               f"not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _ids(text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


def v1_mounts(mountinfo: str = "/proc/self/mountinfo") -> dict[str, str]:
    """Controller name -> mount point of each cgroup v1 hierarchy."""
    out: dict[str, str] = {}
    with open(mountinfo) as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = post.split()
            if len(fields) < 3 or fields[0] != "cgroup":
                continue
            mp = pre.split()[4]
            for opt in fields[2].split(","):
                if opt not in ("rw", "ro", "xattr", "noprefix", "clone_children") \
                        and "=" not in opt.removeprefix("name="):
                    out.setdefault(opt.removeprefix("name="), mp)
    return out


def unified() -> bool:
    """True on a cgroup v2 only host (the unified hierarchy at /sys/fs/cgroup)."""
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def probe() -> HostCgroups:
    """Which resource fields this host's cgroups can honour, and its CPUs and
    memory nodes (those of the root cpuset: containers' cgroups nest under it)."""
    cpus = frozenset(os.sched_getaffinity(0))
    mems = frozenset({0})
    supported: set[str] = set()
    if unified():
        ctrls = set(_read(os.path.join(CGROUP_ROOT, "cgroup.controllers")).split())
        supported = {f for f, c in _V2.items() if c in ctrls}
        # Interface files exist in non-root cgroups only: look in the root's children.
        kids = [e.path for e in os.scandir(CGROUP_ROOT) if e.is_dir()]
        if "MemorySwap" in supported and kids and not any(
                os.path.exists(os.path.join(k, "memory.swap.max")) for k in kids):
            supported.discard("MemorySwap")    # no swap accounting (CONFIG_MEMCG_SWAP)
        if "BlkioWeight" in supported and not any(
                os.path.exists(os.path.join(k, f)) for k in kids
                for f in ("io.weight", "io.bfq.weight")):
            supported.discard("BlkioWeight")   # no io scheduler with weights
        eff = os.path.join(CGROUP_ROOT, "cpuset.cpus.effective")
        if os.path.exists(eff):
            cpus = _ids(_read(eff)) or cpus
        meff = os.path.join(CGROUP_ROOT, "cpuset.mems.effective")
        if os.path.exists(meff):
            mems = _ids(_read(meff)) or mems
        return HostCgroups(2, frozenset(supported), cpus, mems)
    mounts = v1_mounts()
    for field, (ctrl, fname) in _V1.items():
        mp = mounts.get(ctrl)
        if mp and (fname is None or os.path.exists(os.path.join(mp, fname))):
            supported.add(field)
    if "cpuset" in mounts:
        try:
            cpus = _ids(_read(os.path.join(mounts["cpuset"], "cpuset.cpus"))) or cpus
            mems = _ids(_read(os.path.join(mounts["cpuset"], "cpuset.mems"))) or mems
        except (OSError, ValueError):
            pass
    return HostCgroups(1, frozenset(supported), cpus, mems)


def _kv(path: str) -> dict[str, int]:
    """A "key value" per line file (memory.stat, cpu.stat...) as ints."""
    out: dict[str, int] = {}
    try:
        for line in _read(path).splitlines():
            k, _, v = line.partition(" ")
            if v.strip().lstrip("-").isdigit():
                out[k] = int(v)
    except OSError:
        pass
    return out


def _num(path: str) -> int | None:
    try:
        text = _read(path).strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def oom_kills(paths: dict[str, str]) -> int:
    """How many processes the memory cgroup's OOM killer killed in this cgroup
    (memory.oom_control's oom_kill in v1, memory.events' in v2)."""
    if "memory" in paths:
        return _kv(os.path.join(paths["memory"], "memory.oom_control")).get("oom_kill", 0)
    if "" in paths:
        return _kv(os.path.join(paths[""], "memory.events")).get("oom_kill", 0)
    return 0


def procs(paths: dict[str, str]) -> list[int]:
    """The pids in the container's cgroup (and below it), from cgroup.procs."""
    base = paths.get("pids") or paths.get("memory") or paths.get("devices") or paths.get("")
    if not base:
        return []
    out: list[int] = []
    for d, _, _ in os.walk(base):
        try:
            out += [int(p) for p in _read(os.path.join(d, "cgroup.procs")).split()]
        except (OSError, ValueError):
            continue
    return out


def system_cpu_usage() -> int:
    """Host CPU time since boot in ns, as Docker's system_cpu_usage (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (10**9 // os.sysconf("SC_CLK_TCK"))


def _v1_stats(paths: dict[str, str]) -> dict:
    mem = paths.get("memory", "")
    mstat = _kv(os.path.join(mem, "memory.stat")) if mem else {}
    limit = _num(os.path.join(mem, "memory.limit_in_bytes")) if mem else None
    cpuacct = paths.get("cpuacct") or paths.get("cpu", "")
    percpu = []
    try:
        percpu = [int(x) for x in _read(os.path.join(cpuacct, "cpuacct.usage_percpu")).split()]
    except (OSError, ValueError):
        pass
    ticks = _kv(os.path.join(cpuacct, "cpuacct.stat"))
    hz = 10**9 // os.sysconf("SC_CLK_TCK")
    cstat = _kv(os.path.join(paths.get("cpu", cpuacct), "cpu.stat"))
    blk = paths.get("blkio", "")
    return {
        "memory": {"usage": _num(os.path.join(mem, "memory.usage_in_bytes")) or 0,
                   "max_usage": _num(os.path.join(mem, "memory.max_usage_in_bytes")) or 0,
                   "stats": mstat, "failcnt": _num(os.path.join(mem, "memory.failcnt")) or 0,
                   "limit": limit or 0} if mem else {},
        "cpu": {"total_usage": _num(os.path.join(cpuacct, "cpuacct.usage")) or 0,
                "percpu_usage": percpu or None,
                "usage_in_kernelmode": ticks.get("system", 0) * hz,
                "usage_in_usermode": ticks.get("user", 0) * hz},
        "throttling": {"periods": cstat.get("nr_periods", 0),
                       "throttled_periods": cstat.get("nr_throttled", 0),
                       "throttled_time": cstat.get("throttled_time", 0)},
        "pids": {"current": _num(os.path.join(paths.get("pids", ""), "pids.current")) or 0,
                 "limit": _num(os.path.join(paths.get("pids", ""), "pids.max")) or 0}
        if paths.get("pids") else {},
        "blkio": _v1_blkio(blk),
    }


def _v1_blkio(d: str) -> dict:
    out: list[dict] = []
    if d:
        try:
            text = _read(os.path.join(d, "blkio.throttle.io_service_bytes_recursive"))
        except OSError:
            text = ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, _, minor = parts[0].partition(":")
                out.append({"major": int(major), "minor": int(minor), "op": parts[1],
                            "value": int(parts[2])})
    return {"io_service_bytes_recursive": out or None}


def _v2_stats(d: str) -> dict:
    mstat = _kv(os.path.join(d, "memory.stat"))
    cstat = _kv(os.path.join(d, "cpu.stat"))
    ios: list[dict] = []
    try:
        for line in _read(os.path.join(d, "io.stat")).splitlines():
            dev, *kvs = line.split()
            major, _, minor = dev.partition(":")
            vals = dict(kv.split("=", 1) for kv in kvs if "=" in kv)
            for op, key in (("read", "rbytes"), ("write", "wbytes")):
                ios.append({"major": int(major), "minor": int(minor), "op": op,
                            "value": int(vals.get(key, 0))})
    except (OSError, ValueError):
        pass
    return {
        "memory": {"usage": _num(os.path.join(d, "memory.current")) or 0, "stats": mstat,
                   "limit": _num(os.path.join(d, "memory.max")) or 0},
        "cpu": {"total_usage": cstat.get("usage_usec", 0) * 1000,
                "usage_in_kernelmode": cstat.get("system_usec", 0) * 1000,
                "usage_in_usermode": cstat.get("user_usec", 0) * 1000},
        "throttling": {"periods": cstat.get("nr_periods", 0),
                       "throttled_periods": cstat.get("nr_throttled", 0),
                       "throttled_time": cstat.get("throttled_usec", 0) * 1000},
        "pids": {"current": _num(os.path.join(d, "pids.current")) or 0,
                 "limit": _num(os.path.join(d, "pids.max")) or 0},
        "blkio": {"io_service_bytes_recursive": ios or None},
    }


def usage(paths: dict[str, str]) -> dict:
    """A container's usage from its cgroup files: memory, cpu, throttling, pids,
    blkio (Docker's field names inside each); v1 controllers when the host has
    them, else the v2 directory."""
    if any(k for k in paths):
        return _v1_stats(paths)
    if "" in paths:
        return _v2_stats(paths[""])
    return {"memory": {}, "cpu": {}, "throttling": {}, "pids": {}, "blkio": {}}


_HOST: list[HostCgroups] = []


def host() -> HostCgroups:
    """probe() once per process (the host's controllers do not change)."""
    if not _HOST:
        _HOST.append(probe())
    return _HOST[0]


def host_memory() -> int:
    """The host's memory in bytes (MemTotal), Docker's stats limit when unlimited."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def online_cpus() -> int:
    """CPUs this process may run on (Docker's online_cpus)."""
    return len(os.sched_getaffinity(0))
