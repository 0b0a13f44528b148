"""The embedded DNS service: keeps the name table current and runs the resolvers.

Registered on the controller's event bus (`ctl.events.add(service)`). Every
lifecycle event that can change names bumps a generation counter; the table
is rebuilt whole on the next query after a change (so many changes in a row
cost one rebuild) and swapped in one assignment. Resolvers compare the
generation on each wakeup and take the new view: a change is visible to the
very next query.

A resolver is opened for a sandbox that has an endpoint on a user-defined
network (predefined networks have no embedded DNS, as in Docker), at
sandbox_ready / sandbox_restored / endpoint_joined, and closed at
sandbox_removed (before the netns goes away: an open socket would keep it).
Opening binds the sockets at kernel-picked ports and redirects 127.0.0.11:53
to them inside the netns (kernel/dnsredirect.py), replacing whatever table a
previous daemon left there; the table goes with the netns, or is deleted at
sandbox_removed when containers that joined the netns (`container:X`) keep it.
"""

from __future__ import annotations

import logging

from ..core.events import LifecycleListener
from .forwarder import Forwarder
from .names import NameTable, build_table
from .resolver import Resolver
from .upstreams import host_upstreams

log = logging.getLogger(__name__)

DEFAULT_TTL = 5          # seconds, for local answers (Docker uses 600)
DEFAULT_TIMEOUT = 4.0    # seconds, per forwarded query, all upstreams together


class DnsService(LifecycleListener):
    """Name table + per-container resolvers + the shared forwarder."""

    def __init__(self, ctl, ttl: int = DEFAULT_TTL, timeout: float = DEFAULT_TIMEOUT,
                 upstreams: list[str] | None = None):
        """ctl: the Controller; upstreams: daemon default (--dns), else the host's."""
        self.ctl = ctl
        self.ttl = int(ttl)
        self.forwarder = Forwarder(timeout=timeout)
        self.default_upstreams = tuple(upstreams or host_upstreams())
        self.gen = 0
        self._table: NameTable | None = None
        self._table_gen = -1
        self._leaving: set[str] = set()
        self.resolvers: dict[str, Resolver] = {}

    # ---- the table ---------------------------------------------------------
    def changed(self) -> None:
        """Names may have changed (also for features that rename or re-alias)."""
        self.gen += 1

    def table(self) -> NameTable:
        """The current snapshot (rebuilt once after any number of changes)."""
        if self._table is None or self._table_gen != self.gen:
            gen = self.gen
            ctl = self.ctl
            self._leaving &= set(ctl.endpoints)   # forget endpoints already gone
            eps, conts = list(ctl.endpoints.values()), ctl.containers
            r_eps, r_conts = ctl.remote_endpoints()  # overlay: other hosts' endpoints
            if r_eps or r_conts:
                eps, conts = eps + r_eps, {**r_conts, **conts}
            self._table = build_table(ctl.networks, eps, conts, self._leaving)
            self._table_gen = gen
        return self._table

    def upstreams_for(self, c) -> tuple[str, ...]:
        """The container's --dns servers, else the DNS servers of its endpoints' DHCP
        leases (dhcp IPAM, as netavark), else the daemon's defaults."""
        leased = [s for ep in self.ctl.eps_by_container.get(c.id, {}).values()
                  for s in ep.dns_servers]
        return tuple(c.config.dns) or tuple(dict.fromkeys(leased)) or self.default_upstreams

    def wants_resolver(self, c) -> bool:
        """A sandbox with an endpoint on a user-defined network gets a resolver."""
        if not c.sandbox_key:
            return False
        return any(ep.dns_names and ep.id not in self._leaving
                   for ep in self.ctl.eps_by_container.get(c.id, {}).values())

    async def _ensure_open(self, c) -> None:
        if c.id in self.resolvers or not self.wants_resolver(c):
            return
        r = Resolver(self, c.id, self.upstreams_for(c))
        await r.open(c.sandbox_key)
        self.resolvers[c.id] = r
        log.debug("dns: resolver open for %s", c.name)

    async def _close(self, cid: str, netns_outlives: bool = False) -> None:
        r = self.resolvers.pop(cid, None)
        if r is not None:
            await r.close(remove_redirect=netns_outlives)

    def _has_running_sharers(self, c) -> bool:
        """Whether a running container joined `c`'s netns (`--network container:ID`),
        which then outlives `c`'s sandbox."""
        mode = "container:" + c.id
        return any(o.status == "running" and o.config.network_mode == mode
                   for o in self.ctl.containers.values() if o.id != c.id)

    async def close_all(self) -> None:
        """Close every resolver (daemon shutdown)."""
        for cid in list(self.resolvers):
            await self._close(cid)

    # ---- event bus listener ------------------------------------------------
    async def sandbox_ready(self, c) -> None:
        """A container is starting: its names appear; open its resolver."""
        self.changed()
        await self._ensure_open(c)

    async def sandbox_restored(self, c) -> None:
        """Daemon restart with the container still running: reopen its resolver."""
        self.changed()
        await self._ensure_open(c)

    async def endpoint_joined(self, c, nw, ep) -> None:
        """network connect: new names; a resolver if this is its first user network."""
        self.changed()
        await self._ensure_open(c)

    async def endpoint_left(self, c, nw, ep) -> None:
        """network disconnect or stop: the endpoint's names go now."""
        # pruned here too, not only when a query rebuilds the table: without
        # queries the set kept every endpoint ever removed
        self._leaving = {e for e in self._leaving if e in self.ctl.endpoints}
        self._leaving.add(ep.id)
        self.changed()

    async def sandbox_removed(self, c) -> None:
        """The container stopped: close its resolver before the netns is deleted
        (and drop the redirect if sharers keep the netns)."""
        await self._close(c.id, netns_outlives=c.id in self.resolvers
                          and self._has_running_sharers(c))
        self.changed()

    async def container_removed(self, c) -> None:
        """The container is gone."""
        self.changed()

    async def container_renamed(self, c, old_name: str) -> None:
        """The container answers to its new name at once, no longer to the old one."""
        self.changed()
