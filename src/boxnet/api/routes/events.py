"""GET /events: Docker's event stream (container and network events).

An `EventFeed` listens on the controller's EventBus (core/events.py) and
turns lifecycle calls into Docker event messages: container create, start,
die, destroy; network create, connect, disconnect, destroy.  The last
messages are kept in a ring so `since` can replay them; each client gets its
own queue, dropped when it disconnects.
"""

from __future__ import annotations

import asyncio
import collections
import time

import msgspec
from aiohttp import web

from .. import filters as flt
from ..params import query_timestamp
from .common import ctl
from .hijack import Hijack

FILTERS = {"container", "event", "image", "label", "network", "type", "scope", "daemon",
           "node", "plugin", "service", "volume", "config", "secret"}
RING = 1000
_enc = msgspec.json.Encoder()


class EventFeed:
    """EventBus listener producing Docker event messages."""

    def __init__(self, controller):
        """Listen on `controller.events`."""
        self.ctl = controller
        self.ring: collections.deque = collections.deque(maxlen=RING)
        self.clients: set[asyncio.Queue] = set()
        controller.events.add(self)

    def publish(self, typ: str, action: str, actor_id: str, attrs: dict, origin: str = "") -> None:
        """Record one event and hand it to every client."""
        now = time.time_ns()
        msg = {"Type": typ, "Action": action,
               "Actor": {"ID": actor_id, "Attributes": attrs},
               "scope": "local", "time": now // 1_000_000_000, "timeNano": now}
        if typ == "container":  # the pre-1.22 fields, still sent by dockerd
            msg.update(status=action, id=actor_id, **({"from": origin} if origin else {}))
        self.ring.append(msg)
        for q in self.clients:
            q.put_nowait(msg)

    def _container(self, c, action: str, **extra) -> None:
        attrs = dict(c.config.labels)
        attrs.update(image=c.config.image, name=c.name, **extra)
        self.publish("container", action, c.id, attrs, c.config.image)

    def _network(self, nw, action: str, **extra) -> None:
        self.publish("network", action, nw.id, {"name": nw.name, "type": nw.driver, **extra})

    async def container_created(self, c) -> None:
        """Container create."""
        self._container(c, "create")

    async def sandbox_ready(self, c) -> None:
        """Container start (its networks are plumbed)."""
        self._container(c, "start")

    async def sandbox_removed(self, c) -> None:
        """Container die."""
        self._container(c, "die", exitCode=str(c.exit_code))

    async def container_removed(self, c) -> None:
        """Container destroy."""
        self._container(c, "destroy")

    async def network_created(self, nw) -> None:
        """Network create."""
        self._network(nw, "create")

    async def network_removed(self, nw) -> None:
        """Network destroy."""
        self._network(nw, "destroy")

    async def endpoint_joined(self, c, nw, ep) -> None:
        """Network connect."""
        self._network(nw, "connect", container=c.id)

    async def endpoint_left(self, c, nw, ep) -> None:
        """Network disconnect."""
        if nw is not None:
            self._network(nw, "disconnect", container=c.id)


def install(controller) -> EventFeed:
    """Create the feed of this controller (once)."""
    feed = getattr(controller, "event_feed", None)
    if feed is None:
        feed = EventFeed(controller)
        controller.event_feed = feed
    return feed


def _time(request: web.Request, name: str) -> float | None:
    """since/until: Unix seconds, an RFC 3339 date or a duration (params.parse_timestamp)."""
    return query_timestamp(request, name)


def _match(msg: dict, f: dict) -> bool:
    attrs = msg["Actor"]["Attributes"]
    if "type" in f and msg["Type"] not in f["type"]:
        return False
    if "event" in f and msg["Action"] not in f["event"]:
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
    if "label" in f and not flt.match_labels(attrs, f["label"]):
        return False
    if "scope" in f and "local" not in f["scope"]:
        return False
    return True


async def events(request: web.Request) -> web.StreamResponse:
    """GET /events?since=&until=&filters= (streamed JSON messages)."""
    feed = install(ctl(request))
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
                    if not await h.write(_enc.encode(msg) + b"\n"):
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
                if _match(msg, f) and not await h.write(_enc.encode(msg) + b"\n"):
                    break
        finally:
            gone.cancel()
        return await h.finish()
    finally:
        feed.clients.discard(q)


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/events", events)
