"""The flow service of the daemon: the conntrack subscription, the flow
table, and its subscribers (`GET /boxnet/v1/flows?follow=1`, the live UI).

Naming reads the controller's state duck-typed (`endpoints`, `networks`,
`containers`): an address is named by the endpoint holding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..errors import KernelError, Unavailable
from ..kernel import conntrack, nflog
from .table import Flow, FlowTable, Peer

log = logging.getLogger(__name__)
SERVICE_LABEL = "com.docker.compose.service"
OFF = "flows are off on this daemon (boxnetd --flows=off): start it with --flows=on"


def controller_namer(ctl):
    """A Namer over the controller's endpoints (address without prefix)."""
    def name(ip: str) -> Peer | None:
        for ep in list(ctl.endpoints.values()):
            if ip in (ep.ipv4.split("/")[0], ep.ipv6.split("/")[0]):
                c = ctl.containers.get(ep.container_id)
                nw = ctl.networks.get(ep.network_id)
                labels = c.config.labels if c is not None else {}
                return Peer(ip=ip, container=c.name if c else ep.container_id[:12],
                            service=labels.get(SERVICE_LABEL, ""),
                            network=nw.name if nw else "")
        return None
    return name


class FlowService:
    """Runs the subscription; `snapshot()` and `follow()` for readers."""

    def __init__(self, namer, enabled: bool = True):
        """`namer`: an address -> its container's Peer; `enabled`: boxnetd's
        --flows (off: `start` subscribes to nothing, readers get an error)."""
        self.enabled = enabled
        self.table = FlowTable(namer)
        self._events: conntrack.ConntrackEvents | None = None
        self._task: asyncio.Task | None = None
        self._drops: nflog.DropLog | None = None
        self._drop_task: asyncio.Task | None = None
        self._subscribers: set[asyncio.Queue] = set()
        self.error = ""   # why flows are unavailable ("" when they run)

    async def start(self) -> None:
        """Subscribe to conntrack events (accounting turned on) and to the
        ruleset's dropped-packet log (nothing when off)."""
        if not self.enabled:
            return
        try:
            self._events = conntrack.open_events()
            self._drops = nflog.open_group()
        except KernelError as e:   # the daemon still serves; flows answer with the reason
            self.error = str(e)
            log.error("flows unavailable: %s", e)
            if self._events is not None:
                self._events.close()
            self._events = None
            return
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        self._drop_task = loop.create_task(self._run_drops())

    async def _run_drops(self) -> None:
        async for d in self._drops:
            try:
                f = self.table.drop(d)
            except Exception:   # one bad record must not end the flows
                log.exception("flow table: drop %s", d)
                continue
            if f is not None:
                self.publish(f)

    async def _run(self) -> None:
        async for ev in self._events:
            try:
                f = self.table.apply(ev)
            except Exception:   # one bad event must not end the flows
                log.exception("flow table: event %s", ev)
                continue
            if f is not None:
                self.publish(f)

    def publish(self, f: Flow) -> None:
        """Give a flow record to every follower (a full queue drops it)."""
        for q in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(f)

    def lost(self) -> dict[str, int]:
        """Records lost so far (kernel/nlsub.py): conntrack events and
        logged drops, each by a full socket buffer or a full queue."""
        return {"conntrack": self._events.lost if self._events is not None else 0,
                "drops": self._drops.lost if self._drops is not None else 0}

    def check(self) -> None:
        """Raise the error a reader gets when flows are off or unavailable."""
        if not self.enabled:
            raise Unavailable(OFF)
        if self.error:
            raise KernelError(f"flows are unavailable: {self.error}")

    async def snapshot(self) -> list[Flow]:
        """Every flow known now, the open ones' counters read from the kernel."""
        self.check()
        self.table.refresh(await conntrack.dump())
        return self.table.snapshot()

    def follow(self) -> "Follower":
        """Flow records as they open and close, until the caller stops (the
        subscription starts at this call, so nothing between a snapshot and
        the first read is lost); `aclose()` it when done."""
        return Follower(self._subscribers)

    async def close(self) -> None:
        """Stop the subscription."""
        for task in (self._task, self._drop_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for sub in (self._events, self._drops):
            if sub is not None:
                sub.close()


class Follower:
    """One subscriber's flow records: an async iterator; `aclose()` ends it."""

    def __init__(self, subscribers: set):
        self._subs = subscribers
        self._q: asyncio.Queue = asyncio.Queue(maxsize=10000)
        subscribers.add(self._q)

    def __aiter__(self) -> "Follower":
        return self

    async def __anext__(self) -> Flow:
        return await self._q.get()

    async def aclose(self) -> None:
        """Stop receiving records."""
        self._subs.discard(self._q)
