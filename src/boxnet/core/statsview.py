"""Docker's stats JSON (GET /containers/{id}/stats) from cgroup readings
(kernel/cgroups.py usage()) and interface counters (sans-I/O)."""

from __future__ import annotations

import msgspec

EMPTY_TIME = "0001-01-01T00:00:00Z"


class Sample(msgspec.Struct, kw_only=True):
    """One reading of a container: when, its cgroups, the host's CPU time,
    its interfaces' counters (None: no network of its own)."""

    read: str = EMPTY_TIME
    usage: dict = {}
    system_cpu: int = 0
    online_cpus: int = 0
    networks: dict | None = None


def _cpu(s: Sample | None) -> dict:
    if s is None or not s.usage:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                              "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    cpu = {k: v for k, v in (s.usage.get("cpu") or {}).items() if v is not None}
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                          "usage_in_usermode": 0, **cpu},
            "system_cpu_usage": s.system_cpu, "online_cpus": s.online_cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0,
                                **(s.usage.get("throttling") or {})}}


def stats_json(name: str, cid: str, cur: Sample | None, pre: Sample | None,
               host_memory: int) -> dict:
    """One stats object; `cur` None for a container that is not running (Docker
    sends its name and id with zero values); `pre` None: no precpu (one-shot).
    A memory limit above the host's memory is reported as the host's, as dockerd."""
    out: dict = {"name": "/" + name, "id": cid, "read": cur.read if cur else EMPTY_TIME,
                 "preread": pre.read if pre else EMPTY_TIME,
                 "pids_stats": {}, "blkio_stats": {
                     "io_service_bytes_recursive": None, "io_serviced_recursive": None,
                     "io_queue_recursive": None, "io_service_time_recursive": None,
                     "io_wait_time_recursive": None, "io_merged_recursive": None,
                     "io_time_recursive": None, "sectors_recursive": None},
                 "num_procs": 0, "storage_stats": {}, "cpu_stats": _cpu(cur),
                 "precpu_stats": _cpu(pre), "memory_stats": {}}
    if cur is None:
        return out
    out["pids_stats"] = {k: v for k, v in (cur.usage.get("pids") or {}).items() if v}
    out["blkio_stats"].update(cur.usage.get("blkio") or {})
    mem = dict(cur.usage.get("memory") or {})
    if mem:
        if host_memory and (not mem.get("limit") or mem["limit"] > host_memory):
            mem["limit"] = host_memory
        out["memory_stats"] = mem
    if cur.networks is not None:
        out["networks"] = cur.networks
    return out
