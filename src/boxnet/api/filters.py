"""Docker's `filters` query parameter: parsing and matching helpers."""

from __future__ import annotations

import json

from ..errors import InvalidParameter
from .params import parse_timestamp


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


def until_ts(value: str) -> float:
    """`until` filter: a Unix timestamp, an RFC 3339 date or a Go duration (10m),
    strictly parsed (params.parse_timestamp)."""
    return parse_timestamp(value, "until filter")
