"""The daemon's event feed: lifecycle calls as Docker event messages.

An `EventFeed` is a lifecycle listener (core/events.py) that turns the
controller's calls into Docker's event messages: container create, start,
health_status, die, destroy; network create, connect, disconnect, destroy.  The last
messages are kept in a ring so `GET /events?since=` can replay them; each
client of the stream (api/routes/events.py) gets its own queue.  It lives in
the core, as dockerd's daemon/events does, so that the feed records from the
daemon's start whether or not an API serves it yet.
"""

from __future__ import annotations

import asyncio
import collections
import time

from .events import LifecycleListener

RING = 1000


class EventFeed(LifecycleListener):
    """Lifecycle listener producing Docker event messages."""

    def __init__(self, ring: int = RING):
        """Keep the last `ring` messages for replay."""
        self.ring: collections.deque = collections.deque(maxlen=ring)
        self.clients: set[asyncio.Queue] = set()

    def publish(self, typ: str, action: str, actor_id: str, attrs: dict, origin: str = "") -> None:
        """Record one event and hand it to every client. Messages have API 1.52's
        shape: the pre-1.22 `status`/`id`/`from` that older versions still show are
        added by the API (api/compat/system.py); `origin` is kept for callers."""
        now = time.time_ns()
        msg = {"Type": typ, "Action": action,
               "Actor": {"ID": actor_id, "Attributes": attrs},
               "scope": "local", "time": now // 1_000_000_000, "timeNano": now}
        self.ring.append(msg)
        for q in self.clients:
            q.put_nowait(msg)

    def _container(self, c, action: str, **extra) -> None:
        attrs = dict(c.config.labels)
        attrs.update(image=c.config.image, name=c.name, **extra)
        self.publish("container", action, c.id, attrs, c.config.image)

    def container_event(self, c, action: str, **extra) -> None:
        """A container event of an action the lifecycle has no call for (a healthcheck
        probe's exec_create/exec_start/exec_die): the container's labels, image and
        name as attributes, then `extra`, as dockerd's LogContainerEventWithAttributes."""
        self._container(c, action, **extra)

    def _network(self, nw, action: str, **extra) -> None:
        self.publish("network", action, nw.id, {"name": nw.name, "type": nw.driver, **extra})

    async def container_created(self, c) -> None:
        """Container create."""
        self._container(c, "create")

    async def sandbox_ready(self, c) -> None:
        """Container start (its networks are plumbed)."""
        self._container(c, "start")

    async def container_health_changed(self, c) -> None:
        """Container health_status: healthy|unhealthy (Docker's Action)."""
        self._container(c, f"health_status: {c.health.status}")

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
