"""Each Engine API version's differences, applied at the edges of the routes.

The views (`api/views.py`) and the request decoders speak the highest
version boxnet serves (1.52). A request at an older version is brought to
that shape on the way in, and an answer is brought back to the older shape
on the way out, by the rules of this package: one table per subject
(`containers.py`, `networks.py`, `system.py`), each rule naming the API
version that brought the change, what it does, and a function applied to
requests older than that version. Routes make one call per edge:

    body = request_body(request, "container.create", await request.read())
    return reply(response(request, "container.inspect", doc, container=cont))

A request at the highest version meets no rule and costs nothing: its body is
passed through untouched, its answer is not walked. The rules are dockerd's
(its routers' `versions.LessThan(version, ...)` branches and the CHANGELOG of
the spec), for the container and network endpoints.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import msgspec

from ...errors import InvalidParameter
from ..versions import Version, compare, request_version


@dataclass(frozen=True)
class Rule:
    """One version difference: `apply(doc, facts)` runs for requests older
    than `version` (it changes `doc` in place, or raises InvalidParameter for
    what that version refused)."""

    kind: str
    version: str
    what: str
    apply: Callable[[Any, dict], None]


@functools.lru_cache(maxsize=512)
def rules_for(kind: str, version: Version) -> tuple[Rule, ...]:
    """The rules of `kind` that apply to a request at `version`, oldest change last
    (so a doc is walked back version by version from the newest); cached, as
    every inspect, list and event asks."""
    if kind not in NEWEST or compare(version, NEWEST[kind]) >= 0:
        return ()
    todo = [r for r in TABLE[kind] if compare(version, r.version) < 0]
    todo.sort(key=lambda r: tuple(map(int, r.version.split("."))), reverse=True)
    return tuple(todo)


def response(request, kind: str, doc, **facts):
    """`doc` (the newest shape) as the request's API version shows it; `facts`
    are what a rule needs beyond the doc (the Container...). A list is shaped
    item by item."""
    todo = rules_for(kind, request_version(request))
    if not todo:
        return doc
    for item in (doc if isinstance(doc, list) else (doc,)):
        for r in todo:
            r.apply(item, facts)
    return doc


def request_doc(request, kind: str, doc: dict, **facts) -> dict:
    """A decoded request body brought to the newest shape (in place)."""
    for r in rules_for(kind, request_version(request)):
        r.apply(doc, facts)
    return doc


def request_body(request, kind: str, body: bytes, **facts) -> bytes:
    """A JSON request body brought to the newest shape: decoded, changed and
    encoded again only when a rule applies to the request's version."""
    todo = rules_for(kind, request_version(request))
    if not todo or not body.strip():
        return body
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body   # the route's decoder reports the broken body in its words
    if not isinstance(doc, dict):
        return body
    for r in todo:
        r.apply(doc, facts)
    return msgspec.json.encode(doc)


def refuse(message: str) -> None:
    """A rule's refusal: a 400 with dockerd's words."""
    raise InvalidParameter(message)


def changes() -> list[tuple[str, str, str]]:
    """(version, kind, what) of every rule, newest first: the docs' table."""
    rows = [(r.version, r.kind, r.what) for rules in TABLE.values() for r in rules]
    rows.sort(key=lambda x: (tuple(map(int, x[0].split("."))), x[1]), reverse=True)
    return rows


def _table() -> dict[str, tuple[Rule, ...]]:
    from . import containers, networks, system
    out: dict[str, list[Rule]] = {}
    for r in containers.RULES + networks.RULES + system.RULES:
        out.setdefault(r.kind, []).append(r)
    return {k: tuple(v) for k, v in out.items()}


TABLE = _table()
# The newest version any rule of a kind names: requests at or past it skip the kind.
NEWEST = {k: max((r.version for r in rules), key=lambda v: tuple(map(int, v.split("."))))
          for k, rules in TABLE.items()}
