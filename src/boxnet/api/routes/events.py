"""GET /events: Docker's event stream (container and network events).

The messages come from the controller's event feed (core/eventfeed.py),
which records them from the daemon's start: `since` replays its ring, and
each client gets its own queue, dropped when it disconnects.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from aiohttp import web

from .. import compat, filters as flt
from ..params import query_timestamp
from .common import ctl
from .hijack import Hijack

FUZZY_EVENTS = {"health_status", "exec_create", "exec_start"}
FILTERS = {"container", "event", "image", "label", "network", "type", "scope", "daemon",
           "node", "plugin", "service", "volume", "config", "secret"}
_enc = msgspec.json.Encoder()


def _time(request: web.Request, name: str) -> float | None:
    """since/until: Unix seconds, an RFC 3339 date or a duration (params.parse_timestamp)."""
    return query_timestamp(request, name)


def _match(msg: dict, f: dict) -> bool:
    attrs = msg["Actor"]["Attributes"]
    if "type" in f and msg["Type"] not in f["type"]:
        return False
    # dockerd (#25798): health_status, exec_create, exec_start also match
    # their "health_status: healthy" forms
    if "event" in f and msg["Action"] not in f["event"] and not any(
            v in FUZZY_EVENTS and msg["Action"].startswith(v + ": ") for v in f["event"]):
        return False
    ident = {msg["Actor"]["ID"], attrs.get("name", "")}
    if "container" in f:
        if msg["Type"] != "container" and attrs.get("container") is None:
            return False
        who = ident if msg["Type"] == "container" else {attrs.get("container", "")}
        if not any(v in who or any(w.startswith(v) for w in who if w) for v in f["container"]):
            return False
    if "network" in f and (msg["Type"] != "network" or not any(
            v in ident or msg["Actor"]["ID"].startswith(v) for v in f["network"])):
        return False
    if "image" in f and attrs.get("image") not in f["image"]:
        return False
    if "volume" in f and (msg["Type"] != "volume" or msg["Actor"]["ID"] not in f["volume"]):
        return False
    if "label" in f and not flt.match_labels(attrs, f["label"]):
        return False
    if "scope" in f and "local" not in f["scope"]:
        return False
    return True


async def events(request: web.Request) -> web.StreamResponse:
    """GET /events?since=&until=&filters= (streamed JSON messages)."""
    feed = ctl(request).event_feed
    f = flt.parse(request.query.get("filters"), FILTERS)
    since, until = _time(request, "since"), _time(request, "until")
    h = Hijack(request, "application/json")
    q: asyncio.Queue = asyncio.Queue()
    feed.clients.add(q)
    try:
        await h.start()
        if since is not None:
            for msg in list(feed.ring):
                if msg["timeNano"] / 1e9 >= since and (until is None or msg["time"] <= until) \
                        and _match(msg, f):
                    if not await h.write(_enc.encode(
                            compat.response(request, "event", dict(msg))) + b"\n"):
                        return h.resp
        gone = asyncio.ensure_future(h.gone.wait())
        try:
            while until is None or time.time() < until:
                timeout = None if until is None else max(0.0, until - time.time())
                get = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({get, gone}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                msg = get.result()
                if _match(msg, f) and not await h.write(_enc.encode(
                        compat.response(request, "event", dict(msg))) + b"\n"):
                    break
        finally:
            gone.cancel()
        return await h.finish()
    finally:
        feed.clients.discard(q)


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/events", events)
