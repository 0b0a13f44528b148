"""Request fields boxnet does not implement, refused when they would change behaviour.

Docker clients send many fields with their zero value on every request (the
docker CLI sends all of HostConfig: `"CapAdd": null`, `"Memory": 0`,
`"MemorySwappiness": -1`, `"IpcMode": ""`...), so a field is refused only
when its value differs from what boxnet does anyway.  Silently ignoring
`--userns`, `--cgroup-parent` or `--storage-opt` would run the container
otherwise than the user asked for, so those get a 400 naming the field instead.

Honoured elsewhere, so not in these tables: User and HostConfig.GroupAdd
(runtime/users.py resolves them in the container at start), HostConfig.SecurityOpt
(runtime/secopts.py: seccomp, no-new-privileges; refuses AppArmor and SELinux
profiles naming the entry, checked in routes/container_create.py); the process
options of runtime/procopts.py (checked there too): StopSignal, StopTimeout,
HostConfig.CapAdd, CapDrop, Privileged, Init, ReadonlyRootfs, ShmSize,
OomScoreAdj, Ulimits, Devices, DeviceCgroupRules, PidMode, IpcMode, UTSMode,
CgroupnsMode.
The resource limits of runtime/resources.py (checked in routes/container_create.py
against Docker's rules and the host's cgroups, a 400 naming the field the host
cannot limit): Memory, MemorySwap, MemoryReservation, MemorySwappiness,
NanoCpus, CpuShares, CpuPeriod, CpuQuota, CpusetCpus, CpusetMems, PidsLimit,
BlkioWeight, OomKillDisable (cgroup v1 only), BlkioDevice{Read,Write}{Bps,IOps}.
Volumes (Config.Volumes, HostConfig.Binds with names, Mounts of type
volume/bind/tmpfs, VolumesFrom, Tmpfs) are volumes/spec.py's, which refuses
what it cannot honour (other mount types, NonRecursive binds, Subpath, other
volume drivers) naming the field; VolumeDriver is refused unless "local".

Healthcheck is run by the daemon (core/health.py checks it at create as dockerd:
a duration below 1 ms or negative Retries is a 400; core/healthmon.py probes),
and Shell is the shell of its CMD-SHELL probes, as dockerd's.

Accepted although not acted upon (documented in docs/docker-clients.md):
LogConfig of a file-based driver, Annotations, ConsoleSize (of a container: the
CLI resizes right after start; an exec's is applied, see routes/execs.py), ContainerIDFile,
OnBuild, ArgsEscaped (build-time or client-side fields).

`check_container_create(raw)` and `check_network_create(raw)` take the
decoded JSON body (a dict) and raise InvalidParameter for the first refused
field.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ..errors import InvalidParameter

NO_CGROUP_LIMITS = "boxnet does not set this cgroup limit; remove it"


class Unsupported(NamedTuple):
    """One refused field: where it is, which values are fine, what to tell the user."""

    section: str                       # "" (top level / Config) or "HostConfig"
    field: str
    accepts: Callable[[Any], bool]     # True when the value changes nothing
    hint: str


def unset(value: Any) -> bool:
    """The zero values clients send for "not set": null, false, 0, "", [], {}."""
    return value in (None, False, 0, "") or value == [] or value == {}


def one_of(*values: Any) -> Callable[[Any], bool]:
    """Accept an unset value or one of `values`."""
    return lambda v: unset(v) or v in values


def _log_config(cfg: Any) -> bool:
    return unset(cfg) or (isinstance(cfg, dict) and
                          cfg.get("Type") in (None, "", "json-file", "local"))


_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def _namespaced_sysctls(v: Any) -> bool:
    """Docker's rule: a container may set only sysctls of its own namespaces."""
    return isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(val, str) and "/" not in k and ".." not in k and (
            k.startswith("net.") or k in _IPC_SYSCTLS or k.startswith("fs.mqueue."))
        for k, val in v.items())


def _net_sysctls_need_own_netns(raw: dict) -> None:
    hc = raw.get("HostConfig")
    if not isinstance(hc, dict) or not isinstance(hc.get("Sysctls"), dict):
        return
    mode = str(hc.get("NetworkMode") or "")
    net = sorted(k for k in hc["Sysctls"] if k.startswith("net."))
    if net and (mode == "host" or mode.startswith("container:")):
        raise InvalidParameter(f"sysctl {net[0]!r} is not allowed with --network {mode}: "
                               "the container does not have its own network namespace")


_LIMITS = ("CpuRealtimePeriod", "CpuRealtimeRuntime",
           "BlkioWeightDevice", "KernelMemoryTCP",
           "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth")

CONTAINER_CREATE: list[Unsupported] = [
    Unsupported("", "NetworkDisabled", unset, "use --network none"),
    Unsupported("HostConfig", "DeviceRequests", unset, "device requests (GPUs) are not supported"),
    Unsupported("HostConfig", "Runtime", one_of("runc", "io.containerd.runc.v2"),
                "boxnet runs containers with runc only"),
    Unsupported("HostConfig", "Isolation", one_of("default"), "Linux has no isolation modes"),
    Unsupported("HostConfig", "VolumeDriver", one_of("local"),
                "boxnet has the local volume driver only"),
    Unsupported("HostConfig", "UsernsMode", one_of("host"),
                "user namespaces are not supported"),
    Unsupported("HostConfig", "Cgroup", unset, "cgroup sharing is not supported"),
    Unsupported("HostConfig", "CgroupParent", unset, "containers live under the boxnet cgroup"),
    Unsupported("HostConfig", "Sysctls", lambda v: unset(v) or _namespaced_sysctls(v),
                "only namespaced sysctls can be set per container: net.* (own network "
                "namespace), kernel.msg*/sem/shm*, fs.mqueue.* (IPC namespace)"),
    Unsupported("HostConfig", "StorageOpt", unset, "storage options are not supported"),
    Unsupported("HostConfig", "MaskedPaths", lambda v: v is None,
                "the default masked paths always apply"),
    Unsupported("HostConfig", "ReadonlyPaths", lambda v: v is None,
                "the default read-only paths always apply"),
    Unsupported("HostConfig", "LogConfig", _log_config,
                "logs are always kept in files (json-file); other log drivers are not supported"),
    *(Unsupported("HostConfig", f, unset, NO_CGROUP_LIMITS) for f in _LIMITS),
]

NETWORK_CREATE: list[Unsupported] = [
    Unsupported("", "Scope", one_of("local", "global"),
                "swarm-scoped networks are not supported"),
    Unsupported("", "Ingress", unset, "ingress networks are a swarm feature"),
    Unsupported("", "ConfigOnly", unset, "config-only networks are not supported"),
    Unsupported("", "ConfigFrom", unset, "config-only networks are not supported"),
]


def _check(raw: dict, table: list[Unsupported]) -> None:
    for rule in table:
        where = raw.get(rule.section) if rule.section else raw
        if not isinstance(where, dict) or rule.field not in where:
            continue
        value = where[rule.field]
        if not rule.accepts(value):
            name = f"{rule.section}.{rule.field}" if rule.section else rule.field
            raise InvalidParameter(f"{name} is not supported by boxnet: {rule.hint} "
                                   f"(got {value!r})")


def check_container_create(raw: dict) -> None:
    """Refuse a container create body that sets an unsupported field (400)."""
    _check(raw, CONTAINER_CREATE)
    _net_sysctls_need_own_netns(raw)


def check_network_create(raw: dict) -> None:
    """Refuse a network create body that sets an unsupported field (400)."""
    _check(raw, NETWORK_CREATE)
