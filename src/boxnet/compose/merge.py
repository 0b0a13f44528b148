"""Merge several compose files the way Docker Compose does (`-f a.yml -f b.yml`).

The later file wins. Mappings merge key by key, recursively. Within a service:
- `command`, `entrypoint`, `healthcheck.test` are replaced whole;
- `environment`, `labels`, `sysctls`, `networks`, `depends_on`, `build.args` are first
  turned from their list form into a mapping, then merged key by key;
- `ports` and other lists are appended without duplicates; `volumes` merge by target;
- `!reset` removes a value, `!override` replaces it whole.
"""

from __future__ import annotations

import copy

from .yaml12 import Tagged

REPLACED = {"command", "entrypoint", "test"}
TO_MAP = {"environment", "labels", "sysctls", "depends_on", "args", "annotations"}


def _list_to_map(value, key: str):
    """The list form of a mapping-like field, as a mapping."""
    if not isinstance(value, list):
        return value
    out: dict = {}
    for item in value:
        if key == "depends_on":
            out[str(item)] = {"condition": "service_started"}
        elif key == "networks":
            out[str(item)] = None
        else:
            k, sep, v = str(item).partition("=")
            out[k] = v if sep else None
    return out


def normalize_service(svc: dict) -> dict:
    """Put a service's list-or-mapping fields in their mapping form."""
    if not isinstance(svc, dict):
        return svc
    out = dict(svc)
    for key in TO_MAP | {"networks"}:
        if key in out and isinstance(out[key], list):
            out[key] = _list_to_map(out[key], key)
    build = out.get("build")
    if isinstance(build, dict) and isinstance(build.get("args"), list):
        out["build"] = {**build, "args": _list_to_map(build["args"], "args")}
    return out


def _volume_target(v) -> str:
    if isinstance(v, dict):
        return str(v.get("target"))
    parts = str(v).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _merge_list(key: str, base: list, over: list) -> list:
    if key == "volumes":
        by_target = {_volume_target(v): v for v in base}
        for v in over:
            by_target[_volume_target(v)] = v
        return list(by_target.values())
    out = list(base)
    for v in over:
        if v not in out:
            out.append(v)
    return out


def merge_value(key: str, base, over):
    """Merge one value of the overriding file into the base value."""
    if isinstance(over, Tagged):
        return over if over.tag == "reset" else strip(over.value)
    if key in REPLACED or base is None:
        return strip(over)
    if key in TO_MAP | {"networks"}:
        base, over = _list_to_map(base, key), _list_to_map(over, key)
    if isinstance(base, dict) and isinstance(over, dict):
        return merge_maps(base, over)
    if isinstance(base, list) and isinstance(over, list):
        return _merge_list(key, base, strip(over))
    return strip(over)


def merge_maps(base: dict, over: dict) -> dict:
    """Recursive mapping merge; a `!reset` value removes the key."""
    out = dict(base)
    for k, v in over.items():
        merged = merge_value(k, out.get(k), v) if k in out else merge_value(k, None, v)
        if isinstance(merged, Tagged) and merged.tag == "reset":
            out.pop(k, None)
        else:
            out[k] = merged
    return out


def strip(value):
    """Drop `!reset`/`!override` markers left in a value (a lone file has nothing to reset)."""
    if isinstance(value, Tagged):
        return None if value.tag == "reset" else strip(value.value)
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items()
                if not (isinstance(v, Tagged) and v.tag == "reset")}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def merge_files(docs: list[dict]) -> dict:
    """Merge parsed, validated documents in order; the result has no markers left."""
    result: dict = {}
    for doc in docs:
        doc = copy.deepcopy(doc)
        services = doc.get("services")
        if isinstance(services, dict):
            doc["services"] = {n: normalize_service(s) for n, s in services.items()}
        result = merge_maps(result, doc) if result else strip(doc)
    return strip(result)
