"""`GET /volumes` and `POST /volumes/prune` filters, decided without I/O.

List: name (substring, as dockerd), label (key or key=value), dangling
(true/false/1/0: used by no container), driver.  Prune: label, label!=
and all (true: named volumes too; by default only anonymous ones, dockerd
23.0+), and only volumes no container uses.
"""

from __future__ import annotations

from ..errors import InvalidParameter
from .model import Volume
from .names import ANONYMOUS_LABEL

LIST_KEYS = {"name", "label", "dangling", "driver"}
PRUNE_KEYS = {"label", "label!", "all"}


def _bool(key: str, values: list[str]) -> bool:
    vals = {v.lower() for v in values}
    if not vals <= {"true", "false", "1", "0"} or len(vals) > 1 and \
            {"true", "1"} & vals and {"false", "0"} & vals:
        raise InvalidParameter(f"invalid filter '{key}={','.join(values)}': "
                               f"true or false expected")
    return bool(vals & {"true", "1"})


def _labels_hold(labels: dict[str, str], wanted: list[str]) -> bool:
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True


def _labels_absent(labels: dict[str, str], unwanted: list[str]) -> bool:
    for w in unwanted:
        k, eq, v = w.partition("=")
        if k in labels and (not eq or labels[k] == v):
            return False
    return True


def matches(v: Volume, used: bool, filters: dict[str, list[str]]) -> bool:
    """Whether volume `v` (used by a container or not) passes list `filters`."""
    if "name" in filters and not any(n in v.name for n in filters["name"]):
        return False
    if "driver" in filters and v.driver not in filters["driver"]:
        return False
    if "label" in filters and not _labels_hold(v.labels, filters["label"]):
        return False
    if "dangling" in filters and _bool("dangling", filters["dangling"]) == used:
        return False
    return True


def prunable(v: Volume, used: bool, filters: dict[str, list[str]]) -> bool:
    """Whether prune with `filters` removes `v`: unused, anonymous unless all=true,
    its labels matching label= and not label!=."""
    if used:
        return False
    if not _bool("all", filters.get("all", ["false"])) and ANONYMOUS_LABEL not in v.labels:
        return False
    if "label" in filters and not _labels_hold(v.labels, filters["label"]):
        return False
    if "label!" in filters and not _labels_absent(v.labels, filters["label!"]):
        return False
    return True
