"""Lifecycle listeners: how features beside the core (DNS, published ports, the
event feed, the overlay's gateway bridge...) follow the life of networks,
endpoints, sandboxes and containers without the core knowing them.

``LifecycleListener`` lists every event the core emits.  A listener subclasses
it and overrides the events it follows; the others do nothing.  The
Controller's ``EventBus`` calls the listeners in registration order.

``sandbox_ready`` and ``endpoint_joined`` are part of the operation: an error
there fails the start or the connect (and rolls it back).  An error in any
other event is logged, never propagated: teardown goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..model import Container, Endpoint, Network

log = logging.getLogger(__name__)


@runtime_checkable
class LifecycleListener(Protocol):
    """Every event the core emits; each method's default does nothing."""

    async def network_created(self, nw: Network) -> None:
        """A network was created (its kernel objects exist)."""

    async def network_removed(self, nw: Network) -> None:
        """A network was removed (here, or by another host for a global one)."""

    async def container_created(self, c: Container) -> None:
        """A container was created (not started)."""

    async def container_started(self, c: Container) -> None:
        """A container's process runs (a start or a restart policy's start;
        StartedAt is set)."""

    async def container_health_changed(self, c: Container) -> None:
        """A healthcheck changed the container's ``c.health.status``."""

    async def sandbox_ready(self, c: Container) -> None:
        """Every endpoint of a starting container is plumbed and its netns exists;
        called before its process starts.  An error fails the start."""

    async def endpoint_joined(self, c: Container, nw: Network, ep: Endpoint) -> None:
        """An endpoint was added to a running sandbox (a connect; at start,
        sandbox_ready tells of them all).  An error fails the connect."""

    async def endpoint_left(self, c: Container, nw: Network, ep: Endpoint) -> None:
        """An endpoint is being removed (disconnect, stop); it is still indexed."""

    async def sandbox_restored(self, c: Container) -> None:
        """At daemon start, a container found still running was re-adopted and its
        endpoints repaired: rebuild per-sandbox state."""

    async def sandbox_removed(self, c: Container) -> None:
        """The container stopped; its netns is about to go."""

    async def container_removed(self, c: Container) -> None:
        """The container was deleted."""

    async def container_renamed(self, c: Container, old_name: str) -> None:
        """The container has a new name (``c.name``)."""


EVENTS = tuple(name for name in vars(LifecycleListener)
               if not name.startswith("_") and callable(vars(LifecycleListener)[name]))


class EventBus(LifecycleListener):
    """Calls every registered listener's method for each event, in order."""

    def __init__(self):
        self.listeners: list[LifecycleListener] = []

    def add(self, listener: LifecycleListener, first: bool = False) -> None:
        """Register a listener (called after those already there, or before
        them all if `first`).  TypeError if it lacks one of the events: subclass
        LifecycleListener to get the ones it does not follow."""
        if not isinstance(listener, LifecycleListener):
            missing = [e for e in EVENTS if not callable(getattr(listener, e, None))]
            raise TypeError(f"{type(listener).__name__} is not a LifecycleListener "
                            f"(core/events.py): no {', '.join(missing)}")
        if first:
            self.listeners.insert(0, listener)
        else:
            self.listeners.append(listener)

    async def _each(self, call: Callable[[LifecycleListener], Awaitable[None]]) -> None:
        """Errors propagate (the operation fails)."""
        for lst in list(self.listeners):
            await call(lst)

    async def _each_safe(self, event: str,
                         call: Callable[[LifecycleListener], Awaitable[None]]) -> None:
        """Errors are logged and the next listener is called."""
        for lst in list(self.listeners):
            try:
                await call(lst)
            except Exception:  # a listener's bug must not stop a teardown
                log.exception("listener %s failed on %s", type(lst).__name__, event)

    async def network_created(self, nw: Network) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("network_created", lambda lst: lst.network_created(nw))

    async def network_removed(self, nw: Network) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("network_removed", lambda lst: lst.network_removed(nw))

    async def container_created(self, c: Container) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("container_created", lambda lst: lst.container_created(c))

    async def container_started(self, c: Container) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("container_started", lambda lst: lst.container_started(c))

    async def container_health_changed(self, c: Container) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("container_health_changed",
                              lambda lst: lst.container_health_changed(c))

    async def sandbox_ready(self, c: Container) -> None:
        """Tell every listener; an error propagates (fails the start)."""
        await self._each(lambda lst: lst.sandbox_ready(c))

    async def endpoint_joined(self, c: Container, nw: Network, ep: Endpoint) -> None:
        """Tell every listener; an error propagates (fails the connect)."""
        await self._each(lambda lst: lst.endpoint_joined(c, nw, ep))

    async def endpoint_left(self, c: Container, nw: Network, ep: Endpoint) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("endpoint_left", lambda lst: lst.endpoint_left(c, nw, ep))

    async def sandbox_restored(self, c: Container) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("sandbox_restored", lambda lst: lst.sandbox_restored(c))

    async def sandbox_removed(self, c: Container) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("sandbox_removed", lambda lst: lst.sandbox_removed(c))

    async def container_removed(self, c: Container) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("container_removed", lambda lst: lst.container_removed(c))

    async def container_renamed(self, c: Container, old_name: str) -> None:
        """Tell every listener; errors logged."""
        await self._each_safe("container_renamed",
                              lambda lst: lst.container_renamed(c, old_name))
