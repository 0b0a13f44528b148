"""Strict parsing of the numbers, signals and times the API reads from query strings.

Python is far more lenient than Docker's Go: int() accepts Unicode decimal
digits ('٣' is 3), underscores ('1_0' is 10) and surrounding whitespace
(' 1'); str.isdigit() is True for '³', which int() then refuses (a ValueError
that escaped as a 500); float() also takes 'nan', 'inf' and '1e3'. Every
integer query parameter goes through `parse_int`: ASCII `[+-]?[0-9]+` only,
range checked, and anything else is a 400 that names the parameter. Signals
(`parse_signal`) and timestamps (`parse_timestamp`) use the same rules for
their numeric forms, and never let a non-ASCII character through a name or
a date either ("ſigkill".upper() is "SIGKILL" in Python).
"""

from __future__ import annotations

import datetime
import re
import signal as _signal
import time

from ..errors import InvalidParameter

INT32_MAX = 2 ** 31 - 1
TIME_MAX = 253402300799            # 9999-12-31T23:59:59Z
_INT = re.compile(r"[+-]?[0-9]+")  # [0-9], not \d: \d matches every Unicode digit
_MAX_DIGITS = 20                   # longer is out of any range here (and cheap to refuse)

# Docker's signal names on Linux (moby/sys/signal): the standard ones with their
# aliases (IOT, CLD, POLL), and the real-time ones as RTMIN, RTMIN+1 .. RTMAX-1, RTMAX.
SIGNALS: dict[str, int] = {n[3:]: int(v) for n, v in _signal.Signals.__members__.items()}
_RTMIN, _RTMAX = int(_signal.SIGRTMIN), int(_signal.SIGRTMAX)
SIGNALS.update({f"RTMIN+{i}": _RTMIN + i for i in range(1, (_RTMAX - _RTMIN) // 2 + 1)})
SIGNALS.update({f"RTMAX-{i}": _RTMAX - i for i in range(1, (_RTMAX - _RTMIN) // 2)})
SIGNAL_NUMBERS = frozenset(SIGNALS.values())   # 1-31 and 34-64: 32, 33 belong to libc


def parse_int(value: str, name: str, lo: int = 0, hi: int = INT32_MAX) -> int:
    """`value` as an integer in lo..hi; InvalidParameter naming `name` otherwise."""
    if not _INT.fullmatch(value):
        raise InvalidParameter(f"invalid value for {name}: {value!r} is not an integer "
                               f"(ASCII digits with an optional sign)")
    if len(value) > _MAX_DIGITS or not lo <= int(value) <= hi:
        raise InvalidParameter(f"invalid value for {name}: {value} is out of range "
                               f"({lo} to {hi})")
    return int(value)


def query_int(request, name: str, default: int | None = None, lo: int = 0,
              hi: int = INT32_MAX) -> int | None:
    """An integer query parameter (absent or empty: `default`), strictly parsed."""
    val = request.query.get(name)
    if val is None or val == "":
        return default
    return parse_int(val, name, lo, hi)


def parse_signal(value: str, name: str = "signal") -> int:
    """A signal as Docker takes it: a number (1-64, not 32/33) or a name with or
    without SIG, in any case (KILL, SIGKILL, sigkill, RTMIN+3)."""
    if _INT.fullmatch(value):
        num = parse_int(value, name, 1, _RTMAX)
        if num not in SIGNAL_NUMBERS:
            raise InvalidParameter(f"invalid value for {name}: {num} is not a signal "
                                   f"this kernel delivers")
        return num
    key = value.upper() if value.isascii() else ""
    num = SIGNALS.get(key.removeprefix("SIG"))
    if num is None:
        raise InvalidParameter(f"invalid value for {name}: {value!r} is not a signal "
                               f"(a name such as SIGKILL or KILL, or a number 1-{_RTMAX})")
    return num


def query_signal(request, name: str = "signal", default: int | None = None) -> int | None:
    """A signal query parameter (absent or empty: `default`)."""
    val = request.query.get(name)
    if val is None or val == "":
        return default
    return parse_signal(val, name)


_UNIX = re.compile(r"([0-9]+)(?:\.([0-9]{1,9}))?")
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_RFC3339 = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?)"
                      r"(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?")


def parse_timestamp(value: str, name: str, now: float | None = None) -> float:
    """A time as Docker's API takes it (since/until): Unix seconds with up to nine
    decimals, an RFC 3339 date (a missing zone is UTC), or a Go duration such as 10m
    or 1h30m meaning that long before now. Seconds since the epoch."""
    if len(value) > 64:   # also keeps int() away from its 4300-digit limit
        raise InvalidParameter(f"invalid value for {name}: {value[:20]!r}... is too long")
    if m := _UNIX.fullmatch(value):
        ts = int(m.group(1)) + int((m.group(2) or "0").ljust(9, "0")) / 1e9
    elif _DURATION.fullmatch(value):
        ago = sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(value))
        ts = (time.time() if now is None else now) - ago
    elif m := _RFC3339.fullmatch(value):
        main, frac, zone = m.group(1), m.group(2), m.group(3) or "Z"
        text = main + ("." + frac[:6].ljust(6, "0") if frac else "")
        text += "+00:00" if zone == "Z" else zone
        try:
            ts = datetime.datetime.fromisoformat(text).timestamp()
        except (ValueError, OverflowError):
            raise InvalidParameter(f"invalid value for {name}: {value!r} is not a valid "
                                   f"date") from None
    else:
        raise InvalidParameter(f"invalid value for {name}: {value!r}: use Unix seconds "
                               f"(1700000000.5), an RFC 3339 date or a duration like 10m")
    if not 0 <= ts <= TIME_MAX:
        raise InvalidParameter(f"invalid value for {name}: {value} is out of range "
                               f"(0 to {TIME_MAX}, the end of year 9999)")
    return ts


def query_timestamp(request, name: str) -> float | None:
    """A since/until query parameter (absent or empty: None)."""
    val = request.query.get(name)
    if val is None or val == "":
        return None
    return parse_timestamp(val, name)
