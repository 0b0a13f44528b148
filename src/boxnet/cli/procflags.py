"""`boxnet run`'s process-option flags (the docker CLI's): --init, --read-only,
--pid, --uts, --ipc, --cgroupns, --ulimit, --shm-size, --oom-score-adj,
--device, --device-cgroup-rule; and the HostConfig fields they set."""

from __future__ import annotations

import click

from ..client.procspecs import device, ram_bytes, ulimit

_OPTIONS = [
    click.option("--init", is_flag=True, default=None,
                 help="Run an init inside the container that forwards signals and reaps "
                      "processes"),
    click.option("--read-only", is_flag=True, help="Mount the container's root filesystem "
                                                   "as read only"),
    click.option("--pid", default="", help="PID namespace to use (host, container:NAME)"),
    click.option("--uts", default="", help="UTS namespace to use (host)"),
    click.option("--ipc", default="", help="IPC mode to use (none, private, shareable, "
                                           "host, container:NAME)"),
    click.option("--cgroupns", default="", help="Cgroup namespace to use (host, private)"),
    click.option("--ulimit", multiple=True, help="Ulimit options (name=soft[:hard])"),
    click.option("--shm-size", default="", help="Size of /dev/shm (e.g. 64m)"),
    click.option("--oom-score-adj", type=int, default=0,
                 help="Tune host's OOM preferences (-1000 to 1000)"),
    click.option("--device", multiple=True, help="Add a host device to the container "
                                                 "(host[:container][:rwm])"),
    click.option("--device-cgroup-rule", multiple=True,
                 help="Add a rule to the cgroup allowed devices list ('c 1:3 rwm')"),
]


def process_options(f):
    """Decorate a click command with the process-option flags."""
    for opt in reversed(_OPTIONS):
        f = opt(f)
    return f


def host_config(o: dict) -> dict:
    """The HostConfig fields of the flags in `o` (as the docker CLI sends them)."""
    return {
        "Init": True if o.get("init") else None,
        "ReadonlyRootfs": bool(o.get("read_only")),
        "PidMode": o.get("pid") or "", "UTSMode": o.get("uts") or "",
        "IpcMode": o.get("ipc") or "", "CgroupnsMode": o.get("cgroupns") or "",
        "Ulimits": [ulimit(u) for u in o.get("ulimit") or ()] or None,
        "ShmSize": ram_bytes(o["shm_size"], "--shm-size") if o.get("shm_size") else 0,
        "OomScoreAdj": int(o.get("oom_score_adj") or 0),
        "Devices": [device(d) for d in o.get("device") or ()] or None,
        "DeviceCgroupRules": list(o.get("device_cgroup_rule") or ()) or None,
    }
