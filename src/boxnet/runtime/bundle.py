"""OCI runtime config (config.json) for one container, Docker's defaults included.

Pure function of a ProcessSpec and its resolved user: no I/O except creating
missing bind sources (as `docker run -v /missing:/x` does).  As Docker: the
default seccomp profile (runtime/seccomp.py) unless `seccomp=unconfined`,
capabilities in the effective and permitted sets of root only (a non-root user
keeps them in the bounding set, as after execve), no-new-privileges when asked;
the process options of runtime/procopts.py (capabilities, privileged, init,
read-only root, /dev/shm, rlimits, oom_score_adj, devices, PID/IPC/UTS/cgroup
namespaces).  Deliberate difference from Docker: no AppArmor profile.
"""

from __future__ import annotations

import os

from boxnet.errors import InvalidParameter
from boxnet.runtime import procbundle, seccomp
from boxnet.runtime.api import ProcessSpec
from boxnet.runtime.procopts import DEFAULT_CAPS
from boxnet.runtime.users import ExecUser

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _dev(type_: str, major: int | None, minor: int | None, access: str = "rwm") -> dict:
    d: dict = {"allow": True, "type": type_, "access": access}
    if major is not None:
        d["major"] = major
    if minor is not None:
        d["minor"] = minor
    return d


# Docker's default device cgroup rules: deny all, then mknod of anything and
# use of the standard character devices (runc creates the nodes themselves).
DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    _dev("c", None, None, "m"), _dev("b", None, None, "m"),
    _dev("c", 1, 3), _dev("c", 1, 8), _dev("c", 1, 7), _dev("c", 5, 0),
    _dev("c", 1, 5), _dev("c", 1, 9), _dev("c", 136, None), _dev("c", 5, 2),
    _dev("c", 10, 200),
]

BASE_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
]


def parse_bind(bind: str) -> dict:
    """One docker -v entry "/host:/ctr[:opts]" as an OCI bind mount.

    Options: ro/rw; SELinux labels (z, Z) and propagation modes are accepted
    and ignored except rshared/rslave/rprivate.  Named volumes are refused."""
    parts = bind.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidParameter(f"invalid volume specification: '{bind}'")
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    if not os.path.isabs(src):
        raise InvalidParameter(f"named volumes are not supported: '{bind}' (use an absolute host path)")
    if not os.path.isabs(dst):
        raise InvalidParameter(f"invalid mount path: '{dst}' mount path must be absolute")
    mode = "ro" if "ro" in opts else "rw"
    prop = next((o for o in opts if o in ("rshared", "rslave", "rprivate", "shared",
                                          "slave", "private")), "rprivate")
    for o in opts:
        if o not in ("ro", "rw", "z", "Z", "nocopy", prop):
            raise InvalidParameter(f"invalid mode: {o} in '{bind}'")
    if not os.path.exists(src):
        os.makedirs(src, exist_ok=True)  # as Docker does for a missing bind source
    return {"destination": dst, "type": "bind", "source": src,
            "options": ["rbind", prop, mode]}


def parse_tmpfs(entry: str) -> dict:
    """A --tmpfs entry "/path[:opts]" as an OCI tmpfs mount."""
    path, _, opts = entry.partition(":")
    if not os.path.isabs(path):
        raise InvalidParameter(f"invalid tmpfs path: '{path}' must be absolute")
    options = opts.split(",") if opts else ["nosuid", "nodev"]
    if not any(o.startswith("mode=") for o in options):
        options.append("mode=1777" if path in ("/tmp", "/var/tmp") else "mode=755")
    return {"destination": path, "type": "tmpfs", "source": "tmpfs", "options": options}


def _env(spec: ProcessSpec, host_mode: bool) -> list[str]:
    env = list(spec.env)
    keys = {e.split("=", 1)[0] for e in env}
    if "PATH" not in keys:
        env.insert(0, DEFAULT_PATH)
    if "HOSTNAME" not in keys and spec.hostname and not host_mode:
        env.insert(1, f"HOSTNAME={spec.hostname}")
    if spec.tty and "TERM" not in keys:
        env.append("TERM=xterm")
    return env


def joins_other_container(spec: ProcessSpec) -> bool:
    """Whether the netns is another container's process namespace (/proc/<pid>/ns/net,
    network mode `container:X`): it is not this container's to tune, so no network
    sysctls are set in it, as dockerd does for a netns it does not create."""
    return bool(spec.netns_path) and spec.netns_path.startswith("/proc/")


def capabilities(caps: list[str], user: ExecUser) -> dict:
    """process.capabilities: all sets for root; only the bounding set otherwise,
    so `--user 1000` or `exec -u nobody` cannot override file permissions
    (Docker's and Podman's rule since CVE-2022-24769)."""
    if user.uid == 0:
        return {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)}
    return {"bounding": list(caps), "effective": [], "permitted": []}


def seccomp_config(spec: ProcessSpec, caps: list[str]) -> dict | None:
    """linux.seccomp for the container (None: unconfined)."""
    if spec.seccomp == "unconfined" or spec.privileged:   # Docker: privileged is unfiltered
        return None
    profile = seccomp.default_profile() if spec.seccomp == "default" else \
        seccomp.parse_profile(spec.seccomp)
    return seccomp.render(profile, caps)


def exec_process(base: dict, args: list[str], env: list[str], cwd: str, tty: bool,
                 user: ExecUser, caps: list[str] | None = None) -> dict:
    """The process.json of an exec as another user (`exec -u`): the container's
    process (`base`, from its config.json: seccomp and no-new-privileges come
    along) with the exec's command, environment (added to the container's, a
    name given again replaces it), directory and user."""
    proc = dict(base)
    merged = list(base.get("env") or [])
    for e in env:
        key = e.split("=", 1)[0]
        merged = [m for m in merged if m.split("=", 1)[0] != key] + [e]
    proc.update(args=list(args), env=merged, cwd=cwd or base.get("cwd") or "/",
                terminal=tty, user=user.oci(),
                capabilities=capabilities(base["capabilities"]["bounding"] if caps is None
                                          else caps, user))
    proc.pop("consoleSize", None)
    return proc


def build_config(spec: ProcessSpec, root_path: str, root_readonly: bool,
                 user: ExecUser | None = None) -> dict:
    """The OCI config.json dict for `spec`, with `root_path` as root filesystem
    and `user` (resolved by runtime/users.py; None: root) as its process's user.

    With `spec.netns_path` None (host mode) the network and UTS namespaces are
    the daemon's, as with `docker run --network host`; a /proc/<pid>/ns/net
    path joins another container's namespace (`--network container:X`), still
    with a UTS namespace of its own.  The /etc files are
    bind mounts of single files: the core must rewrite them in place (open
    with O_TRUNC, or write then copy), never by rename, or the container keeps
    seeing the old inode."""
    if not spec.args:
        raise InvalidParameter("no command specified")
    host_mode = spec.netns_path is None
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]
    if not host_mode:
        namespaces.append({"type": "network", "path": spec.netns_path})
        namespaces.append({"type": "uts"})
    extra = [parse_tmpfs(t) for t in spec.tmpfs]
    for dst, src in spec.etc_files.items():
        extra.append({"destination": dst, "type": "bind", "source": src,
                      "options": ["rbind", "rprivate", "rw"]})
    extra += [parse_bind(b) for b in spec.binds]
    extra += [dict(m) for m in spec.mounts]   # volumes, binds, tmpfs (core/mounts.py)
    # Parents before children, as dockerd sorts them: a volume at /etc must not
    # cover the /etc/hosts bind made after it.
    extra.sort(key=lambda m: len([p for p in m["destination"].split("/") if p]))
    mounts = [dict(m) for m in BASE_MOUNTS] + extra
    caps = list(DEFAULT_CAPS if spec.caps is None else spec.caps)
    user = user or ExecUser()
    linux: dict = {
        "namespaces": namespaces,
        "cgroupsPath": f"boxnet/{spec.container_id}",
        "resources": {"devices": DEVICE_RULES, **spec.resources},   # runtime/resources.py
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    }
    if not host_mode and not joins_other_container(spec):
        # Docker's defaults for a private netns: any port and ping for any user.
        linux["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0",
                           "net.ipv4.ping_group_range": "0 2147483647"}
    if spec.sysctls:  # the user's (--sysctl) win over the defaults above
        linux["sysctl"] = {**linux.get("sysctl", {}), **spec.sysctls}
    filt = seccomp_config(spec, caps)
    if filt is not None:
        linux["seccomp"] = filt
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": user.oci(),
            "args": list(spec.args),
            "env": _env(spec, host_mode),
            "cwd": spec.cwd or "/",
            "capabilities": capabilities(caps, user),
            "noNewPrivileges": spec.no_new_privileges,
        },
        "root": {"path": root_path, "readonly": root_readonly},
        "mounts": mounts,
        "linux": linux,
    }
    if not host_mode:
        if spec.hostname:
            config["hostname"] = spec.hostname
        if spec.domainname:
            config["domainname"] = spec.domainname
    return procbundle.apply(config, spec)
