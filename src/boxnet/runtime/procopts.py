"""A container's process options, read as dockerd reads them (sans-I/O).

CapAdd/CapDrop (names with or without CAP_, any case, ALL), Privileged, Init,
ReadonlyRootfs, ShmSize, OomScoreAdj, Ulimits, Devices, DeviceCgroupRules,
UTSMode, PidMode, IpcMode, CgroupnsMode, StopSignal and StopTimeout.
`validate` runs at create (routes/container_create.py): every bad value is a
400 naming the field and nothing is created.  `spec_fields` runs at start
(core/procstart.py) and gives the ProcessSpec fields that need no lookup; the
core resolves device nodes and other containers' namespaces itself.

Docker's rules kept: privileged means every capability, every host device, no
seccomp, no masked or read-only paths and a writable /sys; CapAdd ALL is every
capability but the dropped ones, CapDrop ALL keeps only the added ones;
soft <= hard for a ulimit; OomScoreAdj in -1000..1000; a hostname cannot be
set with UTSMode host; joining another container's IPC namespace needs it to
be `shareable` (or host).  A limit this host cannot give (kernel/procfacts.py:
boxnetd lacks CAP_SYS_RESOURCE here) is refused at create, naming it.
"""

from __future__ import annotations

import re
import signal as _signal
from typing import Any, Callable

from boxnet.errors import InvalidParameter
from boxnet.kernel.procfacts import RLIMITS, UNLIMITED, HostFacts

# Every capability of Linux 6.x (capability.h order: the number is the index).
ALL_CAPS = [f"CAP_{c}" for c in (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")]

# Docker's default capability set (moby oci/caps/defaults.go).
DEFAULT_CAPS = [f"CAP_{c}" for c in (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
    "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
    "AUDIT_WRITE")]

_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")
_MODES = {"PidMode": ("", "host", "private"), "UTSMode": ("", "host", "private"),
          "IpcMode": ("", "host", "private", "shareable", "none"),
          "CgroupnsMode": ("", "host", "private")}
SIGNALS = {n[3:]: int(v) for n, v in _signal.Signals.__members__.items()}
_RTMIN, _RTMAX = int(_signal.SIGRTMIN), int(_signal.SIGRTMAX)
SIGNALS.update({f"RTMIN+{i}": _RTMIN + i for i in range(1, _RTMAX - _RTMIN)})
SIGNALS.update({f"RTMAX-{i}": _RTMAX - i for i in range(1, _RTMAX - _RTMIN)})


def _bad(field: str, why: str) -> InvalidParameter:
    return InvalidParameter(f"invalid {field}: {why}")


def normalize_caps(values: Any, field: str) -> list[str]:
    """CAP_NAMEs (or ALL) from a CapAdd/CapDrop list; 400 naming an unknown one."""
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _bad(field, f"expected a list of capability names (got {values!r})")
    out = []
    for v in values:
        name = v.upper() if v.isascii() else v
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != "ALL" and name not in ALL_CAPS:
            raise _bad(field, f"unknown capability: {v!r}")
        if name not in out:
            out.append(name)
    return out


def held_caps(bounding: int) -> list[str]:
    """The capabilities of a bounding-set mask (ALL on this host: what boxnetd holds)."""
    return [c for i, c in enumerate(ALL_CAPS) if bounding >> i & 1]


def capability_set(cap_add: list[str], cap_drop: list[str], privileged: bool,
                   bounding: int = (1 << 41) - 1) -> list[str]:
    """The container's capabilities (moby's TweakCapabilities), from normalized
    lists; ALL and privileged are every capability in `bounding` (boxnetd's)."""
    every = held_caps(bounding)
    if privileged:
        return every
    if "ALL" in cap_add:
        return [c for c in every if c not in cap_drop]
    if "ALL" in cap_drop:
        return [c for c in every if c in cap_add]
    caps = [c for c in DEFAULT_CAPS if c not in cap_drop]
    return caps + [c for c in cap_add if c not in caps]


def parse_signal(value: Any, field: str) -> int:
    """A signal as Docker takes it (SIGUSR1, usr1, 10, RTMIN+3); 400 naming `field`."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if text.isascii() and text.isdigit():
        num = int(text[:3])
        if len(text) <= 2 and num in set(SIGNALS.values()):
            return num
    elif text.isascii() and text.upper().removeprefix("SIG") in SIGNALS:
        return SIGNALS[text.upper().removeprefix("SIG")]
    raise _bad(field, f"{value!r} is not a signal (a name such as SIGTERM or a number)")


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(field, f"{value!r} is not an integer in {lo}..{hi}")
    return value


def parse_ulimits(value: Any, facts: HostFacts) -> list[dict]:
    """OCI process.rlimits from HostConfig.Ulimits ([{Name, Soft, Hard}], -1 unlimited);
    400 naming the limit when it is unknown, soft > hard, or above what this host can give."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("Ulimits", f"expected a list of {{Name, Soft, Hard}} (got {value!r})")
    out, seen = [], set()
    for u in value:
        name = u.get("Name") if isinstance(u, dict) else None
        if not isinstance(name, str) or name not in RLIMITS:
            raise _bad("Ulimits", f"invalid ulimit type: {name!r} (one of {', '.join(RLIMITS)})")
        if name in seen:
            raise _bad("Ulimits", f"ulimit {name} given twice")
        seen.add(name)
        soft, hard = (_int(u.get(k, 0), f"Ulimits {name} {k}", -1, 2 ** 63 - 1)
                      for k in ("Soft", "Hard"))
        soft, hard = (UNLIMITED if v == -1 else v for v in (soft, hard))
        if soft > hard:
            raise _bad("Ulimits", f"ulimit {name}: soft limit {soft} must be less than or "
                                  f"equal to hard limit {hard}")
        if not facts.can_raise and hard > facts.hard[name]:
            most = "unlimited" if facts.hard[name] == UNLIMITED else facts.hard[name]
            raise _bad("Ulimits", f"ulimit {name}: hard limit {hard} is above this host's "
                                  f"{most}, which boxnetd cannot raise (it runs without "
                                  f"CAP_SYS_RESOURCE, so the kernel refuses)")
        out.append({"type": RLIMITS[name], "hard": hard, "soft": soft})
    return out


def device_rules(value: Any) -> list[dict]:
    """linux.resources.devices allow rules from DeviceCgroupRules ("c 1:3 rwm")."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("DeviceCgroupRules", f"expected a list of rules (got {value!r})")
    out = []
    for rule in value:
        m = _RULE.fullmatch(rule) if isinstance(rule, str) else None
        if m is None or len(set(m.group(4))) != len(m.group(4)):
            raise _bad("DeviceCgroupRules", f"{rule!r}: expected 'TYPE MAJOR:MINOR ACCESS' "
                                            f"such as 'c 1:3 rwm' (type a, b or c; * for any)")
        kind, major, minor, access = m.groups()
        r: dict = {"allow": True, "type": kind, "access": access}
        if major != "*":
            r["major"] = int(major)
        if minor != "*":
            r["minor"] = int(minor)
        out.append(r)
    return out


def parse_devices(value: Any) -> list[tuple[str, str, str]]:
    """(PathOnHost, PathInContainer, CgroupPermissions) of each HostConfig.Devices entry."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("Devices", f"expected a list of device mappings (got {value!r})")
    out = []
    for d in value:
        host = d.get("PathOnHost") if isinstance(d, dict) else None
        if not isinstance(host, str) or not host.startswith("/"):
            raise _bad("Devices", f"{d!r}: PathOnHost must be an absolute path")
        ctr = d.get("PathInContainer") or host
        perms = d.get("CgroupPermissions") or "rwm"
        if not isinstance(ctr, str) or not ctr.startswith("/"):
            raise _bad("Devices", f"{d!r}: PathInContainer must be an absolute path")
        if not isinstance(perms, str) or not perms or set(perms) - set("rwm") \
                or len(set(perms)) != len(perms):
            raise _bad("Devices", f"invalid device mode: {perms!r} (any of r, w, m)")
        out.append((host, ctr, perms))
    return out


def ns_mode(hc: dict, field: str) -> tuple[str, str]:
    """(mode, container ref) of PidMode/UTSMode/IpcMode/CgroupnsMode: mode is one of
    Docker's words ("" for the default) or "container" with the other container's ref."""
    value = hc.get(field) or ""
    if not isinstance(value, str):
        raise _bad(field, f"expected a string (got {value!r})")
    if field in ("PidMode", "IpcMode") and value.startswith("container:"):
        ref = value.partition(":")[2]
        if not ref:
            raise _bad(field, f"{value!r}: no container named after 'container:'")
        return "container", ref
    if value not in _MODES[field]:
        kinds = "/".join(m for m in _MODES[field] if m)
        extra = " or container:<name|id>" if field in ("PidMode", "IpcMode") else ""
        raise _bad(field, f"{value!r} (expected {kinds}{extra})")
    return value, ""


def validate(cfg: dict, hc: dict, facts: HostFacts,
             device_nodes: Callable[[str, str], list[dict]] | None = None) -> None:
    """Every process option of a create body is well formed and can be given on
    this host (400 naming the field otherwise).  `cfg` is Config, `hc` HostConfig;
    `device_nodes(host path, container path)` (kernel/procfacts.py) finds a
    `--device`'s nodes, [] when it is none."""
    held = held_caps(facts.cap_bounding)
    for cap in normalize_caps(hc.get("CapAdd"), "CapAdd"):
        if cap != "ALL" and cap not in held:
            raise _bad("CapAdd", f"{cap} is not in boxnetd's own capability bounding set on "
                                 f"this host, so no container can be given it")
    normalize_caps(hc.get("CapDrop"), "CapDrop")
    for key in ("Privileged", "Init", "ReadonlyRootfs"):
        if hc.get(key) is not None and not isinstance(hc.get(key), bool):
            raise _bad(key, f"expected true or false (got {hc.get(key)!r})")
    if hc.get("Init") and not facts.init_path:
        raise _bad("Init", "no init binary on this host (install Debian's tini)")
    if hc.get("ShmSize") is not None:
        _int(hc["ShmSize"], "ShmSize", 0, 2 ** 63 - 1)
    if hc.get("OomScoreAdj") is not None:
        oom = _int(hc["OomScoreAdj"], "OomScoreAdj", -1000, 1000)
        if oom < facts.oom_score_adj and not facts.can_raise:
            raise _bad("OomScoreAdj", f"{oom} is below boxnetd's own {facts.oom_score_adj}, "
                                      f"which it cannot lower (no CAP_SYS_RESOURCE)")
    parse_ulimits(hc.get("Ulimits"), facts)
    for host, ctr, _ in parse_devices(hc.get("Devices")):
        if device_nodes is not None and not device_nodes(host, ctr):
            raise _bad("Devices", f"error gathering device information while adding custom "
                                  f"device {host!r}: not a device node (or missing)")
    device_rules(hc.get("DeviceCgroupRules"))
    modes = {f: ns_mode(hc, f)[0] for f in _MODES}
    if modes["UTSMode"] == "host" and cfg.get("Hostname"):
        raise InvalidParameter("Conflicting options: hostname and the UTS mode (UTSMode host)")
    if modes["UTSMode"] == "host" and str(hc.get("NetworkMode") or "").startswith("container:"):
        raise InvalidParameter("Conflicting options: UTSMode host and NetworkMode container")
    if cfg.get("StopSignal") not in (None, ""):
        parse_signal(cfg["StopSignal"], "StopSignal")
    if cfg.get("StopTimeout") is not None:
        _int(cfg["StopTimeout"], "StopTimeout", -1, 2 ** 31 - 1)


def spec_fields(cfg: dict, hc: dict, facts: HostFacts) -> dict:
    """The ProcessSpec fields of the options that need no lookup (checked at create)."""
    privileged = bool(hc.get("Privileged"))
    caps = capability_set(normalize_caps(hc.get("CapAdd"), "CapAdd"),
                          normalize_caps(hc.get("CapDrop"), "CapDrop"), privileged,
                          facts.cap_bounding)
    return {"caps": caps, "privileged": privileged,
            "init": facts.init_path if hc.get("Init") else "",
            "read_only": bool(hc.get("ReadonlyRootfs")),
            "shm_size": int(hc.get("ShmSize") or 0),
            "oom_score_adj": hc.get("OomScoreAdj") if hc.get("OomScoreAdj") else None,
            "rlimits": parse_ulimits(hc.get("Ulimits"), facts),
            "device_rules": device_rules(hc.get("DeviceCgroupRules")),
            "uts_host": ns_mode(hc, "UTSMode")[0] == "host",
            "cgroup_ns": ns_mode(hc, "CgroupnsMode")[0] == "private"}


def stop_signal(cfg: dict, image_signal: str = "") -> int:
    """The signal `docker stop` sends: Config.StopSignal, else the image's, else SIGTERM."""
    for value in (cfg.get("StopSignal"), image_signal):
        if value not in (None, ""):
            return parse_signal(value, "StopSignal")
    return int(_signal.SIGTERM)


def stop_timeout(cfg: dict) -> int | None:
    """Config.StopTimeout in seconds (-1: wait for ever), None when not set (10 s)."""
    value = cfg.get("StopTimeout")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
