"""The process options of a ProcessSpec applied to a config.json (sans-I/O).

runtime/bundle.py builds Docker's default config and hands it here last:
namespaces (PID/IPC host or joined, UTS host, a private cgroup namespace),
/dev/shm (its size, none, or the host's or another container's bound), the
init (tini bound read-only at /sbin/docker-init and made PID 1:
`docker-init -- <entrypoint+cmd>`, as Docker does; `-s` too in a PID
namespace it does not own), the read-only root,
rlimits, oom_score_adj, devices and their cgroup rules, and privileged mode
(Docker's meaning: every host device usable, no seccomp filter, no masked or
read-only paths, /sys writable).  Capabilities are chosen earlier
(build_config passes `spec.caps` to seccomp's render too).
"""

from __future__ import annotations

from boxnet.runtime.api import ProcessSpec

INIT_PATH = "/sbin/docker-init"   # where Docker puts its init in the container


def _namespaces(config: dict, spec: ProcessSpec) -> None:
    linux = config["linux"]
    keep = []
    for ns in linux["namespaces"]:
        kind = ns["type"]
        if kind == "pid" and spec.pid_ns:
            if spec.pid_ns == "host":
                continue
            ns = {"type": "pid", "path": spec.pid_ns}
        elif kind == "ipc" and spec.ipc_ns:
            if spec.ipc_ns == "host":
                continue
            ns = {"type": "ipc", "path": spec.ipc_ns}
        elif kind == "uts" and spec.uts_host:
            continue
        keep.append(ns)
    if spec.cgroup_ns:
        keep.append({"type": "cgroup"})
    linux["namespaces"] = keep
    if not any(ns["type"] == "uts" for ns in keep):
        # runc refuses a hostname without a UTS namespace of the container's own
        config.pop("hostname", None)
        config.pop("domainname", None)


def _mounts(config: dict, spec: ProcessSpec) -> None:
    mounts = []
    for m in config["mounts"]:
        if m["destination"] == "/dev/shm" and m["type"] == "tmpfs":
            if spec.shm == "none":
                continue
            if spec.shm:
                m = {"destination": "/dev/shm", "type": "bind", "source": spec.shm,
                     "options": ["rbind", "rprivate"]}
            elif spec.shm_size:
                m = dict(m, options=[o for o in m["options"] if not o.startswith("size=")]
                         + [f"size={spec.shm_size}"])
        elif m["destination"] == "/sys" and spec.privileged:
            m = dict(m, options=[o for o in m["options"] if o != "ro"] + ["rw"])
        mounts.append(m)
    if spec.init:
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": spec.init,
                       "options": ["bind", "ro", "nosuid", "nodev"]})
        # In a PID namespace not its own tini is not PID 1: -s makes it a child
        # subreaper, so orphans are still reparented to it and reaped (Docker omits it
        # and tini warns that zombie reaping won't work).
        sub = ["-s"] if spec.pid_ns else []
        config["process"]["args"] = [INIT_PATH, *sub, "--", *config["process"]["args"]]
    config["mounts"] = mounts


def _devices(config: dict, spec: ProcessSpec) -> None:
    linux = config["linux"]
    resources = linux.setdefault("resources", {})
    if spec.privileged:
        rules = [{"allow": True, "access": "rwm"}]
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
        linux.pop("seccomp", None)
    else:
        rules = list(resources.get("devices") or [])
        for d in spec.devices:
            rules.append({"allow": True, "type": d["type"], "major": d["major"],
                          "minor": d["minor"], "access": d.get("access", "rwm")})
        rules += spec.device_rules
    resources["devices"] = rules
    if spec.devices:
        linux["devices"] = [{k: v for k, v in d.items() if k != "access"}
                            for d in spec.devices]


def apply(config: dict, spec: ProcessSpec) -> dict:
    """`config` (build_config's) with the process options of `spec`; returns it."""
    _namespaces(config, spec)
    _mounts(config, spec)
    _devices(config, spec)
    if spec.read_only:
        config["root"]["readonly"] = True
    if spec.rlimits:
        config["process"]["rlimits"] = [dict(r) for r in spec.rlimits]
    if spec.oom_score_adj is not None:
        config["process"]["oomScoreAdj"] = spec.oom_score_adj
    return config
