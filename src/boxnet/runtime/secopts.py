"""HostConfig.SecurityOpt, read as dockerd reads it.

Entries: `no-new-privileges` (alone, or `=true|false`, `:` also accepted as the
separator, as Docker does with a deprecation), `seccomp=unconfined`,
`seccomp=builtin` (the default profile) or `seccomp=<profile JSON>` (the docker
CLI reads a profile file and sends its content; docker-py sends what it is
given, so a path is refused with a hint), `apparmor=unconfined` and
`label=disable` / `disable` (boxnet applies no AppArmor or SELinux profile, so
these ask for what happens anyway).  Any other AppArmor or SELinux profile,
`writable-cgroups` or an unknown key is a 400 naming the entry: boxnet never runs
a container with less confinement than asked for.
"""

from __future__ import annotations

from typing import Any

import msgspec

from boxnet.errors import InvalidParameter
from boxnet.runtime.seccomp import parse_profile

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}     # Go's strconv.ParseBool
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class SecurityOptions(msgspec.Struct, kw_only=True):
    """What a container's SecurityOpt asks for."""

    seccomp: str = "default"        # "default", "unconfined" or a profile's JSON text
    no_new_privileges: bool = False


def _entry(opt: str) -> tuple[str, str]:
    sep = "=" if "=" in opt else ":"
    key, found, value = opt.partition(sep)
    if not found:
        raise InvalidParameter(f"invalid --security-opt {opt!r}: expected key=value "
                               f"(seccomp=..., no-new-privileges[=true|false])")
    return key, value


def parse_security_opts(opts: Any) -> SecurityOptions:
    """SecurityOptions from a SecurityOpt list (400 on anything boxnet cannot honour)."""
    out = SecurityOptions()
    if opts is None:
        return out
    if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
        raise InvalidParameter(f"SecurityOpt must be a list of strings (got {opts!r})")
    for opt in opts:
        if opt == "no-new-privileges":
            out.no_new_privileges = True
            continue
        if opt == "disable":  # Docker's legacy spelling of label=disable
            continue
        key, value = _entry(opt)
        if key == "no-new-privileges":
            if value not in _TRUE | _FALSE:
                raise InvalidParameter(f"invalid --security-opt {opt!r}: no-new-privileges "
                                       f"takes true or false")
            out.no_new_privileges = value in _TRUE
        elif key == "seccomp":
            out.seccomp = _seccomp(value)
        elif key == "apparmor":
            if value != "unconfined":
                raise InvalidParameter(f"--security-opt {opt!r} is not supported by boxnet: "
                                       f"it applies no AppArmor profile (only "
                                       f"apparmor=unconfined describes it)")
        elif key == "label":
            if value != "disable":
                raise InvalidParameter(f"--security-opt {opt!r} is not supported by boxnet: "
                                       f"it applies no SELinux label (only label=disable "
                                       f"describes it)")
        elif key in ("writable-cgroups", "systempaths", "mask", "unmask"):
            raise InvalidParameter(f"--security-opt {opt!r} is not supported by boxnet")
        else:
            raise InvalidParameter(f"invalid --security-opt {opt!r}: unknown option {key!r}")
    return out


def _seccomp(value: str) -> str:
    if not value:
        raise InvalidParameter("invalid --security-opt 'seccomp=': give unconfined, "
                               "builtin or a profile")
    if value == "unconfined":
        return "unconfined"
    if value == "builtin":
        return "default"
    if not value.lstrip().startswith("{"):
        raise InvalidParameter(f"invalid --security-opt seccomp={value[:80]!r}: the value must "
                               f"be the profile's JSON content (the docker CLI reads the file "
                               f"for you), unconfined or builtin")
    parse_profile(value)
    return value
