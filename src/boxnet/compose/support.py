"""Which compose keys boxnet compose translates, the refusal of the others, and the
compose key behind an engine refusal.

A key of the compose-spec that nothing translates is refused by `refuse_unhandled`
(ComposeError naming the service, the key, its file and line), never dropped; so are
swarm-only `deploy` keys and the pull policies nothing implements. `engine_key` turns
the field an engine refusal names (`HostConfig.CapAdd is not supported...`) back into
the compose key, so `up` reports the service and the key.
"""

from __future__ import annotations

import os
import re

from .errors import ComposeError
from .model import Project, Service

# service keys translated somewhere (create.py, mounts.py, here, or compose's own logic)
HANDLED = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "working_dir",
    "hostname", "domainname", "user", "labels", "tty", "stdin_open", "expose", "ports",
    "stop_signal", "stop_grace_period", "restart", "networks", "network_mode", "volumes",
    "tmpfs", "secrets", "configs", "dns", "dns_search", "dns_opt", "extra_hosts",
    "privileged", "cap_add", "cap_drop", "sysctls", "init", "group_add", "security_opt",
    "links", "external_links", "depends_on", "container_name", "scale", "deploy",
    "healthcheck", "read_only", "shm_size", "ulimits", "devices", "device_cgroup_rules",
    "pid", "ipc", "uts", "cgroup", "cgroup_parent", "userns_mode", "mem_limit",
    "memswap_limit", "mem_reservation", "mem_swappiness", "cpus", "cpu_shares", "cpu_quota",
    "cpu_period", "cpuset", "cpu_rt_period", "cpu_rt_runtime", "cpu_count", "cpu_percent",
    "pids_limit", "oom_score_adj", "oom_kill_disable", "blkio_config", "storage_opt",
    "runtime", "isolation", "mac_address", "volumes_from", "logging", "platform",
    "pull_policy", "annotations",
}
REFUSED = {
    "profiles": "profiles are not supported: remove the service or the key",
    "extends": "extends is not supported: merge the files with -f instead",
    "develop": "`develop` (watch) is not supported",
    "post_start": "lifecycle hooks are not supported",
    "pre_stop": "lifecycle hooks are not supported",
    "gpus": "GPU requests are not supported",
    "models": "models are not supported",
    "provider": "provider services are not supported",
    "use_api_socket": "the API socket is not mounted into containers",
    "credential_spec": "credential specs are a Windows feature",
    "attach": "`attach` is not supported (all services are attached to `up`'s logs)",
    "label_file": "label_file is not supported: put the labels under `labels:`",
    "pull_refresh_after": "pull times are not kept: use pull_policy always",
}
DEPLOY_OK = {"replicas", "resources", "restart_policy", "mode"}
PULL_OK = ("missing", "never", "if_not_present", "always", "")

# Engine field (as named in its refusal) -> compose key
ENGINE_KEYS = {
    "HostConfig.CapAdd": "cap_add", "HostConfig.CapDrop": "cap_drop",
    "HostConfig.Init": "init", "HostConfig.ReadonlyRootfs": "read_only",
    "HostConfig.Privileged": "privileged", "HostConfig.Tmpfs": "tmpfs",
    "HostConfig.Mounts": "volumes", "HostConfig.Binds": "volumes",
    "HostConfig.VolumesFrom": "volumes_from", "HostConfig.ShmSize": "shm_size",
    "HostConfig.Ulimits": "ulimits", "HostConfig.Devices": "devices",
    "HostConfig.DeviceCgroupRules": "device_cgroup_rules", "HostConfig.PidMode": "pid",
    "HostConfig.IpcMode": "ipc", "HostConfig.UTSMode": "uts",
    "HostConfig.CgroupnsMode": "cgroup", "HostConfig.CgroupParent": "cgroup_parent",
    "HostConfig.UsernsMode": "userns_mode", "HostConfig.Memory": "mem_limit or "
    "deploy.resources.limits.memory", "HostConfig.MemorySwap": "memswap_limit",
    "HostConfig.MemoryReservation": "mem_reservation or deploy.resources.reservations.memory",
    "HostConfig.MemorySwappiness": "mem_swappiness",
    "HostConfig.NanoCpus": "cpus or deploy.resources.limits.cpus",
    "HostConfig.CpuShares": "cpu_shares", "HostConfig.CpuQuota": "cpu_quota",
    "HostConfig.CpuPeriod": "cpu_period", "HostConfig.CpusetCpus": "cpuset",
    "HostConfig.PidsLimit": "pids_limit or deploy.resources.limits.pids",
    "HostConfig.OomScoreAdj": "oom_score_adj", "HostConfig.OomKillDisable": "oom_kill_disable",
    "HostConfig.BlkioWeight": "blkio_config.weight", "HostConfig.StorageOpt": "storage_opt",
    "HostConfig.Runtime": "runtime", "HostConfig.Isolation": "isolation",
    "HostConfig.LogConfig": "logging", "HostConfig.Sysctls": "sysctls",
    "HostConfig.SecurityOpt": "security_opt", "HostConfig.GroupAdd": "group_add",
    "StopSignal": "stop_signal", "StopTimeout": "stop_grace_period",
    "Healthcheck": "healthcheck", "Volumes": "volumes",
}
_FIELD = re.compile(r"\b((?:HostConfig\.)?[A-Z][A-Za-z]+)\b")


def _err(project: Project, path: tuple, msg: str, hint: str = "") -> ComposeError:
    file, line = project.locate(path)
    return ComposeError(msg, file, path, line, hint)


def engine_key(message: str) -> str | None:
    """The compose key behind the first engine field an error message names."""
    for m in _FIELD.finditer(message):
        key = ENGINE_KEYS.get(m.group(1)) or ENGINE_KEYS.get("HostConfig." + m.group(1))
        if key:
            return key
    return None


def _host_platform() -> str:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine,
                                                       os.uname().machine)
    return f"linux/{arch}"


def refuse_unhandled(project: Project, svc: Service) -> None:
    """Raise for a service key boxnet compose would otherwise drop."""
    base = ("services", svc.name)
    for key in svc.raw:
        if key.startswith("x-") or key in HANDLED:
            continue
        hint = REFUSED.get(key, "boxnet compose does not translate this key")
        raise _err(project, base + (key,), f"service {svc.name!r}: `{key}` is not "
                   "supported", hint)
    deploy = svc.get("deploy") or {}
    for key in deploy:
        if key not in DEPLOY_OK and not key.startswith("x-"):
            raise _err(project, base + ("deploy", key), f"service {svc.name!r}: "
                       f"deploy.{key} is a swarm setting, not supported")
    for key in deploy.get("restart_policy") or {}:
        if key not in ("condition", "max_attempts") and not key.startswith("x-"):
            raise _err(project, base + ("deploy", "restart_policy", key),
                       f"deploy.restart_policy.{key} is a swarm setting, not supported",
                       "the engine restarts at once, with its own back-off")
    if deploy.get("mode") not in (None, "replicated"):
        raise _err(project, base + ("deploy", "mode"), f"deploy.mode {deploy['mode']!r} is "
                   "a swarm mode, not supported", "use replicated (the default)")
    res = deploy.get("resources") or {}
    for key in res.get("reservations") or {}:
        if key != "memory" and not key.startswith("x-"):
            raise _err(project, base + ("deploy", "resources", "reservations", key),
                       f"deploy.resources.reservations.{key} is not supported",
                       "only a memory reservation maps to the engine (MemoryReservation)")
    pp = str(svc.get("pull_policy") or "")
    if pp not in PULL_OK:
        raise _err(project, base + ("pull_policy",), f"pull_policy {pp!r} is not supported",
                   "boxnet compose does not build images (build) nor refresh them on a "
                   "schedule (daily, weekly, every_...): use missing, always or never")
    plat = svc.get("platform")
    if plat and str(plat) != _host_platform():
        raise _err(project, base + ("platform",), f"platform {plat!r} is not this host's "
                   f"({_host_platform()})", "boxnet runs images of the host's platform only")


def refuse_network_keys(project: Project) -> None:
    """Raise for a top-level network setting nothing translates: none left
    (enable_ipv4: false, an IPv6-only network, is sent as EnableIPv4 since issue 18)."""
    return None
