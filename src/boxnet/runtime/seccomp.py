"""Seccomp profiles: boxnet's default, `seccomp=unconfined`, and a user's profile
(`--security-opt seccomp=profile.json`; the docker CLI sends the file's JSON).

Profiles are written in Docker's profile format (defaultAction, archMap or
architectures, syscalls with names/action/errnoRet/args and includes/excludes
of caps, arches and minKernel), so a profile written for Docker works here.
`render()` turns one into the OCI config's `linux.seccomp` for one container:
rules whose includes/excludes do not match the container's capabilities, the
machine's architecture or the running kernel are left out, as dockerd does, so
the capability-dependent exceptions follow what the container really holds.

The default profile (seccomp_default.json, boxnet's own data) is an allow-list
with EPERM for everything else, Docker's semantics: built from the x86_64 and
i386 syscall tables minus the calls docs.docker.com lists as blocked, io_uring,
AF_ALG and AF_VSOCK sockets (as Docker 29), namespaces through clone/unshare
without CAP_SYS_ADMIN, and clone3 as ENOSYS (the C library then falls back to
clone, whose flags seccomp can read).  Every i386 call is filtered too: a
64-bit process can still enter the 32-bit table with `int 0x80`.
scripts/seccomp_profile.py writes the file and says how (`--check` diffs it).

A profile is checked strictly: an unknown key, action, operator or
architecture is a 400 naming it (Docker's Go decoder would ignore a misspelt
key and run the container with less protection than written).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any

from boxnet.errors import InvalidParameter

DEFAULT_FILE = os.path.join(os.path.dirname(__file__), "seccomp_default.json")

# What runc here can do (`runc features`).  SCMP_ACT_NOTIFY needs a listener
# boxnet does not run, so it is refused rather than accepted and ignored.
ACTIONS = {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
           "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}
OPERATORS = {"SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT",
             "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"}
ARCHES = {f"SCMP_ARCH_{a}" for a in (
    "X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32", "MIPSEL",
    "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X", "RISCV64")}
# uname machine -> (Docker's arch name in includes/excludes, libseccomp's)
NATIVE = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
          "i686": ("386", "SCMP_ARCH_X86"), "armv7l": ("arm", "SCMP_ARCH_ARM"),
          "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"), "s390x": ("s390x", "SCMP_ARCH_S390X"),
          "riscv64": ("riscv64", "SCMP_ARCH_RISCV64")}
_TOP = {"defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls",
        "flags", "listenerPath", "listenerMetadata"}
_RULE = {"names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes"}
_ARG = {"index", "value", "valueTwo", "op"}
_FILTER = {"caps", "arches", "minKernel"}
U64 = 2**64 - 1


def _bad(msg: str) -> InvalidParameter:
    return InvalidParameter(f"invalid seccomp profile: {msg}")


def _keys(obj: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(obj, dict):
        raise _bad(f"{where} must be a JSON object")
    extra = sorted(set(obj) - allowed)
    if extra:
        raise _bad(f"unknown field {extra[0]!r} in {where} (known: {', '.join(sorted(allowed))})")
    return obj


def _uint(v: Any, what: str, top: int = U64) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
        raise _bad(f"{what} must be an integer from 0 to {top} (got {v!r})")
    return v


def _strs(v: Any, what: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise _bad(f"{what} must be a list of non-empty strings (got {v!r})")
    return v


def _kernel(text: Any) -> tuple[int, int]:
    parts = str(text).split(".")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise _bad(f"minKernel must look like \"4.8\" (got {text!r})")
    return int(parts[0]), int(parts[1])


def running_kernel() -> tuple[int, int]:
    """(major, minor) of the running kernel."""
    major, minor = (os.uname().release.split("-")[0].split(".") + ["0"])[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def _native() -> tuple[str, str]:
    m = os.uname().machine
    return NATIVE.get(m, (m, f"SCMP_ARCH_{m.upper()}"))


def _check_filter(f: Any, where: str) -> dict:
    f = _keys(f, _FILTER, where)
    if "caps" in f:
        _strs(f["caps"], f"{where}.caps")
    if "arches" in f:
        _strs(f["arches"], f"{where}.arches")
    if "minKernel" in f:
        _kernel(f["minKernel"])
    return f


def validate(profile: Any) -> dict:
    """Check a Docker-format profile (a parsed JSON value); return it (400 if bad)."""
    p = _keys(profile, _TOP, "the profile")
    if p.get("defaultAction") not in ACTIONS:
        raise _bad(f"defaultAction must be one of {', '.join(sorted(ACTIONS))} "
                   f"(got {p.get('defaultAction')!r})")
    if "defaultErrnoRet" in p and p["defaultErrnoRet"] is not None:
        _uint(p["defaultErrnoRet"], "defaultErrnoRet", 4095)
    if p.get("architectures") and p.get("archMap"):
        raise _bad("both 'architectures' and 'archMap' are given: use one of them")
    for a in _strs(p.get("architectures") or [], "architectures"):
        if a not in ARCHES:
            raise _bad(f"unknown architecture {a!r}")
    for i, m in enumerate(p.get("archMap") or []):
        m = _keys(m, {"architecture", "subArchitectures"}, f"archMap[{i}]")
        for a in [m.get("architecture"), *_strs(m.get("subArchitectures") or [], "subArchitectures")]:
            if a not in ARCHES:
                raise _bad(f"unknown architecture {a!r} in archMap[{i}]")
    for field in ("flags", "listenerPath", "listenerMetadata"):
        if p.get(field):
            raise InvalidParameter(f"seccomp profile field {field!r} is not supported by boxnet "
                                   f"(no seccomp notify listener, no filter flags): remove it")
    calls = p.get("syscalls")
    if not isinstance(calls, list):
        raise _bad("'syscalls' must be a list")
    for i, r in enumerate(calls):
        where = f"syscalls[{i}]"
        r = _keys(r, _RULE, where)
        if r.get("name") and r.get("names"):
            raise _bad(f"{where}: both 'name' and 'names' are given: use one of them")
        names = [r["name"]] if r.get("name") else r.get("names")
        _strs(names, f"{where}.names")
        if not names:
            raise _bad(f"{where} names no system call")
        if r.get("action") not in ACTIONS:
            raise _bad(f"{where}: action must be one of {', '.join(sorted(ACTIONS))} "
                       f"(got {r.get('action')!r})")
        if r.get("errnoRet") is not None:
            _uint(r["errnoRet"], f"{where}.errnoRet", 4095)
        for j, a in enumerate(r.get("args") or []):
            a = _keys(a, _ARG, f"{where}.args[{j}]")
            _uint(a.get("index"), f"{where}.args[{j}].index", 5)
            _uint(a.get("value", 0), f"{where}.args[{j}].value")
            _uint(a.get("valueTwo", 0), f"{where}.args[{j}].valueTwo")
            if a.get("op") not in OPERATORS:
                raise _bad(f"{where}.args[{j}]: op must be one of {', '.join(sorted(OPERATORS))} "
                           f"(got {a.get('op')!r})")
        for key in ("includes", "excludes"):
            if r.get(key) is not None:
                _check_filter(r[key], f"{where}.{key}")
    return p


def parse_profile(text: str) -> dict:
    """A profile from its JSON text, validated."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise _bad(f"not JSON ({e}); the docker CLI sends the file's content, "
                   f"and so must other clients") from None
    return validate(value)


@lru_cache(maxsize=1)
def default_profile() -> dict:
    """boxnet's default profile (seccomp_default.json), validated once."""
    with open(DEFAULT_FILE) as f:
        return validate(json.load(f))


def _applies(r: dict, caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    inc, exc = r.get("includes") or {}, r.get("excludes") or {}
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if exc.get("arches") and arch in exc["arches"]:
        return False
    if any(c not in caps for c in inc.get("caps") or []):
        return False
    if any(c in caps for c in exc.get("caps") or []):
        return False
    if inc.get("minKernel") and kernel < _kernel(inc["minKernel"]):
        return False
    if exc.get("minKernel") and kernel >= _kernel(exc["minKernel"]):
        return False
    return True


def render(profile: dict, caps: list[str], kernel: tuple[int, int] | None = None,
           machine: tuple[str, str] | None = None) -> dict:
    """The OCI `linux.seccomp` object of `profile` for a container holding `caps`
    (its bounding set, "CAP_..." names) on this machine and kernel."""
    arch, scmp = machine or _native()
    kernel = kernel or running_kernel()
    held = {c if c.startswith("CAP_") else f"CAP_{c}" for c in caps}
    out: dict = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    if profile.get("archMap"):
        for m in profile["archMap"]:
            if m["architecture"] == scmp:
                out["architectures"] = [scmp, *(m.get("subArchitectures") or [])]
    elif profile.get("architectures"):
        out["architectures"] = list(profile["architectures"])
    rules = []
    for r in profile["syscalls"]:
        if not _applies(r, held, arch, kernel):
            continue
        rule: dict = {"names": [r["name"]] if r.get("name") else list(r["names"]),
                      "action": r["action"]}
        if r.get("errnoRet") is not None:
            rule["errnoRet"] = r["errnoRet"]
        if r.get("args"):
            rule["args"] = [{"index": a["index"], "value": a.get("value", 0),
                             "valueTwo": a.get("valueTwo", 0), "op": a["op"]} for a in r["args"]]
        rules.append(rule)
    out["syscalls"] = rules
    return out


def allowed_names(oci: dict) -> set[str]:
    """Names a rendered profile allows without argument conditions (for tests and docs)."""
    return {n for r in oci["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
            for n in r["names"]}
