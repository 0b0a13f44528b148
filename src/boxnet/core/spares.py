"""One spare veth pair per Docker plugin network, made off the request path.

Why: in the plugin's `docker network connect`, the Join waited ~3-4 ms for the
veth pair that CreateEndpoint had started (its creation costs ~4-6 ms and runs
while dockerd works on the same two cores).  A network of a driver that
``KeepsSpares`` (the bridge behind ``boxnet``) has one pair made ahead
(drivers/bridge/driver.py, kernel/spareveth.py): CreateEndpoint's plumbing only
takes it (a rename, the MAC, the firewall elements), and the next spare is made
in the background once that plumbing is done.  A second endpoint made before
the next spare is ready takes the ordinary path.

No spare outlives its use: network removal deletes the network's spare first
(waiting for one being made), daemon shutdown deletes them all, and the spares a
crash left are removed by the start-up reconciliation by their name and mark
(core/orphans.py) before any new one is made (restore_external_endpoints).
The controller's ``_spares`` maps a network id to its spare, or to the task
making it.
"""

from __future__ import annotations

import asyncio
import logging

from ..drivers.api import KeepsSpares, SpareLink
from ..errors import BoxnetError
from ..model import Network

log = logging.getLogger(__name__)


class SpareOps:
    """Mixin of the Controller: the spares of the Docker plugin's networks."""

    def _spare_driver(self, nw: Network | None) -> KeepsSpares | None:
        if nw is None:
            return None
        return self.drivers.ability(nw.driver, KeepsSpares)

    def refill_spare(self, network_id: str) -> None:
        """Start making the network's spare in the background, unless it has one (or
        one is being made), its driver keeps none, or the daemon is closing."""
        nw = self.networks.get(network_id)
        drv = self._spare_driver(nw)
        if drv is None or network_id in self._spares or self._closed:
            return
        self._spares[network_id] = self.spawn(
            self._make_spare(nw, drv), f"spare veth of network {nw.name}")

    async def _make_spare(self, nw: Network, drv: KeepsSpares) -> SpareLink:
        me = asyncio.current_task()
        try:
            spare = await drv.make_spare(nw)
        except BoxnetError:
            if self._spares.get(nw.id) is me:
                del self._spares[nw.id]   # the next use tries again
            raise
        if self._spares.get(nw.id) is me:
            self._spares[nw.id] = spare
        # else drop_spare() took this task out and deletes what it returns
        return spare

    def take_spare(self, network_id: str) -> SpareLink | None:
        """The network's ready spare, now the caller's; None if it has none ready."""
        got = self._spares.get(network_id)
        if not isinstance(got, SpareLink):
            return None
        del self._spares[network_id]
        return got

    async def use_spare(self, nw: Network, ep, spare: SpareLink) -> bool:
        """Plumb ``ep`` from ``spare`` (KeepsSpares.take_spare); False, with the spare
        gone and nothing of ``ep`` made, if it could not be used (the caller then
        makes a pair afresh)."""
        drv = self._spare_driver(nw)
        if drv is None:
            return False
        try:
            await drv.take_spare(nw, ep, spare)
        except BoxnetError as exc:
            log.warning("spare %s of network %s not usable (%s): a new pair instead",
                        spare.host, nw.name, exc.message)
            return False
        return True

    async def drop_spare(self, network_id: str) -> None:
        """Delete the network's spare, waiting for one being made; no error if none."""
        got = self._spares.pop(network_id, None)
        if isinstance(got, asyncio.Task):
            await asyncio.wait([got])   # never cancelled here: it may be mid-creation
            got = None if got.cancelled() or got.exception() is not None else got.result()
        drv = self._spare_driver(self.networks.get(network_id))
        if got is None:
            return
        if drv is None:
            await self.nl.delete_link(got.host)   # the network went first: by name
            return
        await drv.drop_spare(self.networks[network_id], got)

    async def drop_spares(self) -> None:
        """Daemon shutdown: delete every spare (going on past failures)."""
        for network_id in list(self._spares):
            try:
                await self.drop_spare(network_id)
            except BoxnetError as exc:
                log.warning("cannot delete the spare of network %s: %s", network_id[:12],
                            exc.message)
