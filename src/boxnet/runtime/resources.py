"""Container resource limits: Docker's validation and the OCI `linux.resources`.

Sans-I/O: `validate(hc, host)` checks the resource fields of a HostConfig (a
dict with Docker's names) against Docker's rules and against what the host's
cgroups offer (`HostCgroups`, probed by kernel/cgroups.py), and
`oci_resources(hc)` turns them into config.json's `linux.resources` (every key
but `devices`, which runtime/bundle.py owns).  runc writes them into cgroup v1
or v2 files, whichever the host has.

Docker's rules (moby daemon/daemon_unix.go verifyPlatformContainerResources),
with its messages: memory and memory reservation at least 6 MiB, MemorySwap at
least Memory (or -1: unlimited) and only with Memory, NanoCpus exclusive of
CpuPeriod/CpuQuota and at most the host's CPUs, CFS period 1 ms..1 s and quota
at least 1 ms, BlkioWeight 10..1000, cpuset lists within the host's CPUs and
memory nodes.  `normalize(hc)` applies Docker's defaults afterwards: with
Memory set and MemorySwap 0, swap is twice the memory; PidsLimit <= 0 is
unlimited.
"""

from __future__ import annotations

from typing import Any, Callable

from boxnet.errors import InvalidParameter
from boxnet.kernel.cgroups import HostCgroups

MIN_MEMORY = 6 << 20   # Docker's linuxMinMemory
# HostConfig's throttled devices -> their OCI linux.resources.blockIO keys.
THROTTLES = {"BlkioDeviceReadBps": "throttleReadBpsDevice",
             "BlkioDeviceWriteBps": "throttleWriteBpsDevice",
             "BlkioDeviceReadIOps": "throttleReadIOPSDevice",
             "BlkioDeviceWriteIOps": "throttleWriteIOPSDevice"}
# Every HostConfig field this module honours: the API's refusal table leaves them alone.
FIELDS = ("Memory", "MemorySwap", "MemoryReservation", "MemorySwappiness", "NanoCpus",
          "CpuShares", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "PidsLimit",
          "BlkioWeight", "OomKillDisable", *THROTTLES)
# A block device's (major, minor) from its path (kernel/cgroups.py block_device).
DevNums = Callable[[str], "tuple[int, int]"]
# `docker update` may change these (and RestartPolicy).
UPDATABLE = ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares",
             "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "PidsLimit", "BlkioWeight")


def _int(hc: dict, key: str, default: int | None = 0) -> int | None:
    v = hc.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidParameter(f"{key} must be an integer (got {v!r})")
    return v


def parse_cpuset(text: str, what: str) -> frozenset[int]:
    """A cpuset list ("0-2,4") as a set; InvalidParameter with Docker's message."""
    out: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isascii() or not lo.isdigit() or (sep and (not hi.isascii()
                                                             or not hi.isdigit())):
            raise InvalidParameter(f"Invalid value {text} for {what}")
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a or b > 8191:
            raise InvalidParameter(f"Invalid value {text} for {what}")
        out.update(range(a, b + 1))
    return frozenset(out)


def _fmt(ids: frozenset[int]) -> str:
    return ",".join(str(i) for i in sorted(ids))


def _check_host(hc: dict, host: HostCgroups) -> None:
    """A set field the host's cgroups cannot honour is refused, naming it."""
    for f in FIELDS:
        v = hc.get(f)
        if v in (None, 0, "") or v == [] or (f in ("MemorySwap", "MemorySwappiness", "PidsLimit")
                                  and v == -1) or (f == "PidsLimit" and isinstance(v, int)
                                                   and v <= 0):
            continue
        if f not in host.supported:
            raise InvalidParameter(
                f"HostConfig.{f} is not supported on this host: its cgroup "
                f"v{host.version} hierarchy has no controller or file for it")


def validate(hc: dict, host: HostCgroups, devnums: DevNums | None = None) -> list[str]:
    """Check the resource fields of `hc` (InvalidParameter with Docker's message
    for the first bad one), the throttled devices' paths with `devnums`; return
    Docker's warnings (none so far)."""
    mem = _int(hc, "Memory")
    swap = _int(hc, "MemorySwap")
    res = _int(hc, "MemoryReservation")
    for key, v in (("Memory", mem), ("MemoryReservation", res)):
        if v < 0:
            raise InvalidParameter(f"invalid {key} {v}: it cannot be negative")
    if mem and mem < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if swap < -1:
        raise InvalidParameter(f"invalid MemorySwap {swap}: use -1 for unlimited swap")
    if swap > 0 and not mem:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap "
                               "limit, see usage")
    if mem and swap > 0 and swap < mem:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, "
                               "see usage")
    if res and res < MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if mem and res and mem < res:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation "
                               "limit, see usage")
    swappiness = _int(hc, "MemorySwappiness", -1)
    if swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidParameter(f"Invalid value: {swappiness}, valid memory swappiness range "
                               f"is 0-100")
    nano, period, quota = _int(hc, "NanoCpus"), _int(hc, "CpuPeriod"), _int(hc, "CpuQuota")
    if nano and period:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and quota:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    ncpu = len(host.cpus) or 1
    if nano < 0 or nano > ncpu * 10**9:
        raise InvalidParameter(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only "
                               f"{ncpu} CPUs available")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                               "than 1 second (i.e. 1000000)")
    if quota < -1 or (quota > 0 and quota < 1000):
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    shares = _int(hc, "CpuShares")
    if shares < 0:
        raise InvalidParameter(f"invalid CPU shares ({shares}): value must be a positive "
                               f"integer")
    weight = _int(hc, "BlkioWeight")
    if weight and not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    _int(hc, "PidsLimit")
    if hc.get("OomKillDisable") not in (None, True, False):
        raise InvalidParameter(f"OomKillDisable must be a boolean (got {hc['OomKillDisable']!r})")
    for key, avail, what in (("CpusetCpus", host.cpus, "cpuset cpus"),
                             ("CpusetMems", host.mems, "cpuset mems")):
        v = hc.get(key)
        if v in (None, ""):
            continue
        if not isinstance(v, str):
            raise InvalidParameter(f"{key} must be a string (got {v!r})")
        wanted = parse_cpuset(v, what)
        if avail and not wanted <= avail:
            kind = "CPUs" if key == "CpusetCpus" else "memory nodes"
            raise InvalidParameter(f"Requested {kind} are not available - requested {v}, "
                                   f"available: {_fmt(avail)}")
    for key in THROTTLES:
        _throttles(hc, key, devnums)
    _check_host(hc, host)
    return []


def _throttles(hc: dict, key: str, devnums: DevNums | None) -> list[dict]:
    """The OCI throttle entries of BlkioDevice{Read,Write}{Bps,IOps}: a list of
    {"Path": a block device, "Rate": >= 0}; `devnums` resolves the paths (None:
    shape checks only)."""
    v = hc.get(key)
    if v in (None, []):
        return []
    if not isinstance(v, list):
        raise InvalidParameter(f"{key} must be a list of {{Path, Rate}} (got {v!r})")
    out = []
    for d in v:
        rate = d.get("Rate") if isinstance(d, dict) else None
        if not isinstance(d, dict) or not isinstance(d.get("Path"), str) or not d["Path"] \
                or isinstance(rate, bool) or not isinstance(rate, int) or rate < 0:
            raise InvalidParameter(f"invalid {key} entry {d!r}: expected a device Path and "
                                   f"a Rate of at least 0")
        if devnums is not None:
            major, minor = devnums(d["Path"])
            out.append({"major": major, "minor": minor, "rate": rate})
    return out


def normalize(hc: dict, host: HostCgroups | None = None) -> dict:
    """`hc` with Docker's defaults applied (a copy): MemorySwap twice Memory
    when only Memory is set and the host can limit swap (`host` None: assume
    so); PidsLimit <= 0 means unlimited (null)."""
    out = dict(hc)
    swap_ok = host is None or "MemorySwap" in host.supported
    if out.get("Memory") and not out.get("MemorySwap") and swap_ok:
        out["MemorySwap"] = 2 * out["Memory"]
    pids = out.get("PidsLimit")
    if isinstance(pids, int) and pids <= 0:
        out["PidsLimit"] = None
    return out


def oci_resources(hc: dict, for_update: bool = False, devnums: DevNums | None = None) -> dict:
    """config.json's linux.resources (without `devices`) for a validated,
    normalized HostConfig; empty when it sets no limit.  `for_update`: for
    `runc update`, which reads an absent limit as "unchanged", so an unlimited
    pids limit is sent as -1.  `devnums` resolves throttled devices' paths
    (None: no throttles)."""
    out: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if hc.get("Memory"):
        mem["limit"] = hc["Memory"]
    if hc.get("MemorySwap") and (hc.get("Memory") or hc["MemorySwap"] > 0):
        mem["swap"] = hc["MemorySwap"]   # -1 alone changes nothing: not sent
    if hc.get("MemoryReservation"):
        mem["reservation"] = hc["MemoryReservation"]
    sw = hc.get("MemorySwappiness")
    if isinstance(sw, int) and sw >= 0:
        mem["swappiness"] = sw
    if hc.get("OomKillDisable") is True:
        mem["disableOOMKiller"] = True   # v1 memory.oom_control: at the limit, processes wait
    if mem:
        out["memory"] = mem
    cpu: dict[str, Any] = {}
    if hc.get("CpuShares"):
        cpu["shares"] = hc["CpuShares"]
    if hc.get("NanoCpus"):
        # Docker's conversion: a 100 ms period and the matching quota.
        cpu["period"] = 100_000
        cpu["quota"] = hc["NanoCpus"] * 100_000 // 10**9
    else:
        if hc.get("CpuPeriod"):
            cpu["period"] = hc["CpuPeriod"]
        if hc.get("CpuQuota"):
            cpu["quota"] = hc["CpuQuota"]
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    if cpu:
        out["cpu"] = cpu
    if isinstance(hc.get("PidsLimit"), int) and hc["PidsLimit"] > 0:
        out["pids"] = {"limit": hc["PidsLimit"]}
    elif for_update:
        out["pids"] = {"limit": -1}
    blkio: dict[str, Any] = {}
    if hc.get("BlkioWeight"):
        blkio["weight"] = hc["BlkioWeight"]
    if devnums is not None:
        for key, oci in THROTTLES.items():
            if entries := _throttles(hc, key, devnums):
                blkio[oci] = entries
    if blkio:
        out["blockIO"] = blkio
    return out


def merge_update(current: dict, update: dict) -> dict:
    """The HostConfig after `docker update`: the update's set fields replace the
    current ones (0 / null / "" mean "unchanged", as Docker reads them), with
    Docker's update rules: a memory limit above the current swap limit needs
    the swap limit too, and NanoCpus replaces a period/quota and vice versa."""
    out = dict(current)
    mem = update.get("Memory") or 0
    if isinstance(mem, int) and mem and not update.get("MemorySwap"):
        cur_swap = current.get("MemorySwap") or 0
        if isinstance(cur_swap, int) and cur_swap > 0 and mem > cur_swap:
            raise InvalidParameter("Memory limit should be smaller than already set memoryswap "
                                   "limit, update the memoryswap at the same time")
    for f in UPDATABLE:
        v = update.get(f)
        if f == "PidsLimit" and isinstance(v, int) and not isinstance(v, bool) and v <= 0:
            out[f] = None   # 0 or -1: unlimited (null: unchanged)
            continue
        if v in (None, 0, ""):
            continue
        out[f] = v
    if update.get("NanoCpus"):
        out.pop("CpuPeriod", None)
        out.pop("CpuQuota", None)
    elif update.get("CpuPeriod") or update.get("CpuQuota"):
        out.pop("NanoCpus", None)
    return out
