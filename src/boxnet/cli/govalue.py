"""Go value printing (fmt %v) and the template functions docker provides.

Docker templates run on Go structs, so `{{.IPAM.Config}}` prints
`[{172.18.0.0/16  172.18.0.1 map[]}]`, not a map. We only have JSON dicts, so a
few well-known struct shapes (field order and kinds) are listed here; any other
dict prints as a Go map with sorted keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

# (fields in Go declaration order; kind: s string, m map, l slice, b bool, i int)
_SHAPES: list[list[tuple[str, str]]] = [
    [("Subnet", "s"), ("IPRange", "s"), ("Gateway", "s"), ("AuxiliaryAddresses", "m")],
    [("Driver", "s"), ("Options", "m"), ("Config", "l")],
    [("Name", "s"), ("EndpointID", "s"), ("MacAddress", "s"), ("IPv4Address", "s"),
     ("IPv6Address", "s")],
    [("HostIp", "s"), ("HostPort", "s")],
    [("Name", "s"), ("MaximumRetryCount", "i")],
    [("IPv4Address", "s"), ("IPv6Address", "s"), ("LinkLocalIPs", "l")],
]
_ZERO = {"s": "", "m": "map[]", "l": "[]", "b": "false", "i": "0"}


def _shape_of(d: dict) -> list[tuple[str, str]] | None:
    keys = set(d)
    for shape in _SHAPES:
        names = {n for n, _ in shape}
        if keys and keys <= names and len(keys) >= max(1, len(names) // 2):
            return shape
    return None


def go_str(v: Any) -> str:
    """Format a value like Go's fmt %v (for template output)."""
    if v is None:
        return "<no value>"
    return _fmt(v)


def _fmt(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        shape = _shape_of(v)
        if shape:
            parts = [(_fmt(v[n]) if v.get(n) is not None else _ZERO[k]) for n, k in shape]
            return "{" + " ".join(parts) + "}"
        return "map[" + " ".join(f"{k}:{_fmt(v[k])}" for k in sorted(v)) + "]"
    if hasattr(v, "__str__") and not isinstance(v, (int,)):
        return str(v)
    return str(v)


def truthy(v: Any) -> bool:
    """Go template truth: false, 0, nil and empty values are false."""
    if v is None:
        return False
    if isinstance(v, (bool, int, float, str, list, tuple, dict)):
        return bool(v)
    return True


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([vsdqtfgxX%])")


def go_printf(fmt: str, *args: Any) -> str:
    """A small Go Printf: %v %s %d %q %t %f %g %x and widths."""
    it = iter(args)

    def repl(m: re.Match) -> str:
        flags, width, prec, verb = m.groups()
        if verb == "%":
            return "%"
        try:
            a = next(it)
        except StopIteration:
            return f"%!{verb}(MISSING)"
        if verb in "vs":
            s = _fmt(a)
        elif verb == "q":
            s = '"' + _fmt(a).replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif verb == "t":
            s = _fmt(a)
        else:
            spec = verb if verb != "v" else "s"
            s = ("%" + (f".{prec}" if prec else "") + spec) % a
        if width:
            w = int(width)
            s = s.ljust(w) if "-" in flags else s.rjust(w, "0" if "0" in flags else " ")
        return s

    return _VERB.sub(repl, fmt)


def _json(v: Any) -> str:
    if hasattr(v, "to_json"):
        v = v.to_json()
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k)
        else:
            v = v[k]
    return v


def _truncate(s: Any, n: int) -> str:
    s = go_str(s)
    return s[:n]


FUNCS: dict = {
    "json": _json,
    "join": lambda a, sep: sep.join(go_str(x) for x in (a or [])),
    "split": lambda s, sep: s.split(sep),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: go_str(s).title(),
    "pad": lambda s, l, r: " " * l + go_str(s) + " " * r,
    "truncate": _truncate,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "print": lambda *a: "".join(go_str(x) for x in a),
    "printf": go_printf,
    "index": _index,
    "len": lambda v: len(v or []),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda v: not truthy(v),
    "and": lambda *a: next((x for x in a if not truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if truthy(x)), a[-1]),
}
