"""The docker CLI's spellings of process options, as Engine API values.

`--ulimit nofile=1024[:2048]`, `--shm-size 64m`, `--device /dev/x[:/dev/y][:rwm]`,
parsed as the docker CLI parses them (go-units' RAMInBytes for sizes); the
daemon checks the values themselves (runtime/procopts.py).  Errors are
OptionError naming the flag.
"""

from __future__ import annotations

import re

from .errors import OptionError

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kKmMgGtTpP])?[iI]?[bB]?")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_bytes(value: str, flag: str) -> int:
    """A size such as 64m, 1.5g, 512k or 1024 (bytes), binary units as Docker's."""
    m = _SIZE.fullmatch(value.strip())
    if m is None:
        raise OptionError(f"invalid argument {value!r} for \"{flag}\" flag: invalid size")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def _limit(text: str, value: str) -> int:
    if text in ("-1", "unlimited"):
        return -1
    if not text.isascii() or not text.isdigit():
        raise OptionError(f"invalid argument {value!r} for \"--ulimit\" flag: "
                          f"limits are numbers (or -1, unlimited)")
    return int(text)


def ulimit(value: str) -> dict:
    """`name=soft[:hard]` as {Name, Soft, Hard} (hard defaults to soft)."""
    name, sep, limits = value.partition("=")
    if not sep or not name or not limits:
        raise OptionError(f"invalid argument {value!r} for \"--ulimit\" flag: "
                          f"expected name=soft[:hard]")
    soft, _, hard = limits.partition(":")
    return {"Name": name, "Soft": _limit(soft, value), "Hard": _limit(hard or soft, value)}


def _is_perms(text: str) -> bool:
    return bool(text) and not set(text) - set("rwm")


def device(value: str) -> dict:
    """`host[:container][:perms]` as {PathOnHost, PathInContainer, CgroupPermissions}."""
    parts = value.split(":")
    perms = "rwm"
    if len(parts) > 1 and _is_perms(parts[-1]) and not parts[-1].startswith("/"):
        perms = parts.pop()
    if not 1 <= len(parts) <= 2 or not parts[0]:
        raise OptionError(f"invalid argument {value!r} for \"--device\" flag: "
                          f"expected host[:container][:permissions]")
    return {"PathOnHost": parts[0], "PathInContainer": parts[-1] if len(parts) == 2 else
            parts[0], "CgroupPermissions": perms}
