"""Listeners: how features beside the core (DNS, published ports...) follow
the life of endpoints and sandboxes without the core knowing them.

A listener is any object with some of these coroutine methods; the
Controller calls them in registration order:

- ``sandbox_ready(c)``: every endpoint of a starting container is plumbed,
  its netns exists; called before the container's process starts.
  An exception here fails the start (and rolls it back).
- ``endpoint_joined(c, nw, ep)``: an endpoint was added to a running sandbox
  (at start, after sandbox_ready only for later connects).
- ``endpoint_left(c, nw, ep)``: an endpoint was removed (disconnect, stop).
- ``sandbox_restored(c)``: at daemon start, a container found still running
  was re-adopted and its endpoints repaired; rebuild per-sandbox state.
- ``sandbox_removed(c)``: the container stopped; its netns is about to go.
- ``container_removed(c)``: the container was deleted.
- ``container_renamed(c, old_name)``: the container has a new name.

Errors raised by the last three are logged, never propagated: teardown goes on.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class EventBus:
    """Calls listeners' coroutine methods by event name."""

    def __init__(self):
        self.listeners: list = []

    def add(self, listener) -> None:
        """Register a listener."""
        self.listeners.append(listener)

    async def emit(self, event: str, *args) -> None:
        """Call every listener's `event` method; errors propagate."""
        for lst in self.listeners:
            fn = getattr(lst, event, None)
            if fn is not None:
                await fn(*args)

    async def emit_safe(self, event: str, *args) -> None:
        """Call every listener's `event` method; log errors and go on."""
        for lst in self.listeners:
            fn = getattr(lst, event, None)
            if fn is None:
                continue
            try:
                await fn(*args)
            except Exception:  # a listener's bug must not stop a teardown
                log.exception("listener %s failed on %s", type(lst).__name__, event)
