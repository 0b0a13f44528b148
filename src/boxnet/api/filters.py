"""Docker's `filters` query parameter: parsing and matching helpers."""

from __future__ import annotations

import json
import re
import time

from ..core.clock import parse_rfc3339
from ..errors import InvalidParameter


def parse(raw: str | None, allowed: set[str]) -> dict[str, list[str]]:
    """Decode `{"key": ["v"]}` (or the old `{"key": {"v": true}}`); reject unknown keys."""
    if not raw:
        return {}
    try:
        val = json.loads(raw)
    except ValueError as exc:
        raise InvalidParameter(f"invalid filters: {exc}") from None
    if not isinstance(val, dict):
        raise InvalidParameter("invalid filters: expected a JSON object")
    out = {}
    for key, vals in val.items():
        if key not in allowed:
            raise InvalidParameter(f"invalid filter '{key}'")
        if isinstance(vals, dict):
            vals = [k for k, v in vals.items() if v]
        elif isinstance(vals, str):
            vals = [vals]
        if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
            raise InvalidParameter(f"invalid filter '{key}': values must be strings")
        out[key] = vals
    return out


def match_labels(labels: dict[str, str], wanted: list[str]) -> bool:
    """All `key` / `key=value` filters hold."""
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True


def match_label_negated(labels: dict[str, str], wanted: list[str]) -> bool:
    """`label!=` filters of prune: none of them holds."""
    for w in wanted:
        k, eq, v = w.partition("=")
        if k in labels and (not eq or labels[k] == v):
            return False
    return True


_DUR = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def until_ts(value: str) -> float:
    """`until` filter: a unix timestamp, an RFC 3339 date or a Go duration (10m)."""
    try:
        return float(value)
    except ValueError:
        pass
    m = _DUR.match(value)
    if m:
        return time.time() - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise InvalidParameter(f"invalid until filter {value!r}: use a timestamp, "
                               f"a date or a duration like 10m") from None
