"""The process, security and resource keys of a service, as Engine API create fields.

Each compose key maps to the field Docker Compose v2 sends (healthcheck -> Config.Healthcheck
with durations in nanoseconds; stop_grace_period -> StopTimeout in seconds;
deploy.resources.limits -> Memory/NanoCpus/PidsLimit, reservations.memory ->
MemoryReservation; ulimits, devices, shm_size, pid, ipc, uts, cgroup...). The engine
honours or refuses each field itself (support.py names the compose key of a refusal,
and refuses the compose keys nothing translates).
"""

from __future__ import annotations

from .errors import ComposeError
from .health import seconds
from .model import Project, Service
from .mounts import size_bytes

def _err(project: Project, path: tuple, msg: str, hint: str = "") -> ComposeError:
    file, line = project.locate(path)
    return ComposeError(msg, file, path, line, hint)


def _ns(value) -> int:
    return int(round(seconds(value) * 1e9))


def healthcheck(hc: dict | None) -> dict | None:
    """healthcheck -> Config.Healthcheck (durations in nanoseconds), as compose sends it."""
    if hc is None:
        return None
    if hc.get("disable") in (True, "true"):
        return {"Test": ["NONE"]}
    out: dict = {}
    test = hc.get("test")
    if isinstance(test, str):
        out["Test"] = ["CMD-SHELL", test]
    elif test:
        out["Test"] = [str(t) for t in test]
    for key, field in (("interval", "Interval"), ("timeout", "Timeout"),
                       ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        if hc.get(key) not in (None, ""):
            out[field] = _ns(hc[key])
    if hc.get("retries") not in (None, ""):
        out["Retries"] = int(hc["retries"])
    return out


def _ulimits(value: dict) -> list[dict]:
    out = []
    for name, v in value.items():
        soft, hard = (v.get("soft"), v.get("hard")) if isinstance(v, dict) else (v, v)
        out.append({"Name": str(name), "Soft": int(soft), "Hard": int(hard)})
    return out


def _devices(value: list) -> list[dict]:
    out = []
    for d in value:
        if isinstance(d, dict):
            src, dst, perm = d.get("source"), d.get("target") or d.get("source"), \
                d.get("permissions") or "rwm"
        else:
            parts = str(d).split(":")
            src = parts[0]
            dst = parts[1] if len(parts) > 1 and parts[1].startswith("/") else src
            perm = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
        out.append({"PathOnHost": str(src), "PathInContainer": str(dst),
                    "CgroupPermissions": str(perm)})
    return out


def _restart_from_deploy(rp: dict) -> dict:
    cond = rp.get("condition") or "any"
    name = {"none": "no", "on-failure": "on-failure", "any": "always"}.get(cond, cond)
    out = {"Name": name}
    if name == "on-failure" and rp.get("max_attempts"):
        out["MaximumRetryCount"] = int(rp["max_attempts"])
    return out


def apply(project: Project, svc: Service, b: dict) -> None:
    """Add the service's process, security and resource fields to a create body
    (ComposeError naming the service for a value that is not a number, a size...)."""
    try:
        _apply(project, svc, b)
    except (ValueError, TypeError, KeyError) as e:
        raise _err(project, ("services", svc.name), f"service {svc.name!r}: invalid value: "
                   f"{e}") from None


def _apply(project: Project, svc: Service, b: dict) -> None:
    hc_body = b["HostConfig"]
    g = svc.get
    path = ("services", svc.name)
    try:
        hc = healthcheck(g("healthcheck"))
    except ValueError as e:
        raise _err(project, path + ("healthcheck",), f"service {svc.name!r}: {e}") from None
    if hc is not None:
        b["Healthcheck"] = hc
    try:
        if g("stop_grace_period") not in (None, ""):
            b["StopTimeout"] = int(seconds(g("stop_grace_period")))
        sizes = {"ShmSize": "shm_size", "Memory": "mem_limit", "MemoryReservation":
                 "mem_reservation"}
        for field, key in sizes.items():
            if g(key) not in (None, ""):
                hc_body[field] = size_bytes(g(key))
        if g("memswap_limit") not in (None, ""):
            v = g("memswap_limit")
            hc_body["MemorySwap"] = -1 if str(v) == "-1" else size_bytes(v)
        res = (g("deploy") or {}).get("resources") or {}
        lim, resv = res.get("limits") or {}, res.get("reservations") or {}
        if lim.get("memory") not in (None, ""):
            hc_body["Memory"] = size_bytes(lim["memory"])
        if resv.get("memory") not in (None, ""):
            hc_body["MemoryReservation"] = size_bytes(resv["memory"])
        cpus = lim.get("cpus") if lim.get("cpus") not in (None, "") else g("cpus")
        if cpus not in (None, ""):
            hc_body["NanoCpus"] = int(round(float(cpus) * 1e9))
        pids = lim.get("pids") if lim.get("pids") not in (None, "") else g("pids_limit")
        if pids not in (None, ""):
            hc_body["PidsLimit"] = int(pids)
    except ValueError as e:
        raise _err(project, path, f"service {svc.name!r}: {e}") from None
    ints = {"CpuShares": "cpu_shares", "CpuQuota": "cpu_quota", "CpuRealtimePeriod":
            "cpu_rt_period", "CpuRealtimeRuntime": "cpu_rt_runtime", "CpuCount": "cpu_count",
            "CpuPercent": "cpu_percent", "OomScoreAdj": "oom_score_adj",
            "MemorySwappiness": "mem_swappiness", "CpuPeriod": "cpu_period"}
    try:
        for field, key in ints.items():
            if g(key) not in (None, ""):
                hc_body[field] = int(g(key))
    except ValueError as e:
        raise _err(project, path, f"service {svc.name!r}: {e}") from None
    strs = {"CpusetCpus": "cpuset", "PidMode": "pid", "IpcMode": "ipc", "UTSMode": "uts",
            "CgroupnsMode": "cgroup", "CgroupParent": "cgroup_parent",
            "UsernsMode": "userns_mode", "Runtime": "runtime", "Isolation": "isolation"}
    for field, key in strs.items():
        if g(key) not in (None, ""):
            hc_body[field] = str(g(key))
    if g("read_only") is not None:
        hc_body["ReadonlyRootfs"] = bool(g("read_only"))
    if g("oom_kill_disable") is not None:
        hc_body["OomKillDisable"] = bool(g("oom_kill_disable"))
    if g("ulimits"):
        hc_body["Ulimits"] = _ulimits(g("ulimits"))
    if g("devices"):
        hc_body["Devices"] = _devices(g("devices"))
    if g("device_cgroup_rules"):
        hc_body["DeviceCgroupRules"] = [str(r) for r in g("device_cgroup_rules")]
    if g("storage_opt"):
        hc_body["StorageOpt"] = {str(k): str(v) for k, v in g("storage_opt").items()}
    blk = g("blkio_config") or {}
    if blk.get("weight") not in (None, ""):
        hc_body["BlkioWeight"] = int(blk["weight"])
    for key, field in (("device_read_bps", "BlkioDeviceReadBps"),
                       ("device_write_bps", "BlkioDeviceWriteBps"),
                       ("device_read_iops", "BlkioDeviceReadIOps"),
                       ("device_write_iops", "BlkioDeviceWriteIOps")):
        if blk.get(key):
            hc_body[field] = [{"Path": d["path"], "Rate": size_bytes(d["rate"])}
                              for d in blk[key]]
    if blk.get("weight_device"):
        hc_body["BlkioWeightDevice"] = [{"Path": d["path"], "Weight": int(d["weight"])}
                                        for d in blk["weight_device"]]
    log = g("logging")
    if log:
        hc_body["LogConfig"] = {"Type": str(log.get("driver") or "json-file"),
                                "Config": {str(k): str(v) for k, v in
                                           (log.get("options") or {}).items()}}
    if g("mac_address"):
        b["MacAddress"] = str(g("mac_address"))
    if g("annotations"):
        ann = g("annotations")
        hc_body["Annotations"] = dict(x.partition("=")[::2] for x in ann) \
            if isinstance(ann, list) else {str(k): str(v) for k, v in ann.items()}
    rp = (g("deploy") or {}).get("restart_policy")
    if rp and not g("restart"):
        hc_body["RestartPolicy"] = _restart_from_deploy(rp)
    vf = []
    for ref in (str(r) for r in g("volumes_from") or []):
        if ref.startswith("container:"):
            name, _, mode = ref[len("container:"):].partition(":")
        else:
            sname, _, mode = ref.partition(":")
            other = project.services.get(sname)
            if other is None:
                raise _err(project, path + ("volumes_from",), f"volumes_from refers to "
                           f"undefined service {sname!r}", "use SERVICE or container:NAME")
            name = project.container_name(other, 1)
        if mode not in ("", "ro", "rw"):
            raise _err(project, path + ("volumes_from",), f"invalid mode {mode!r} in "
                       f"volumes_from {ref!r}", "ro or rw")
        vf.append(name + (":" + mode if mode else ""))
    if vf:
        hc_body["VolumesFrom"] = vf


def check(project: Project) -> None:
    """Translate every service's fields once at load (raises the first ComposeError),
    so a bad value is reported before anything is created."""
    for svc in project.services.values():
        apply(project, svc, {"HostConfig": {}})
