"""The gateway bridge of overlay containers: Docker's ``docker_gwbridge``.

An overlay is a pure L2 segment (the host has no address on it), so a
container on a non-internal overlay gets a second endpoint, on the local
bridge network ``boxnet_gwbridge``, that carries its default route: NAT
(masquerade), isolation and published ports come from the normal bridge
driver, IPAM and firewall.  ICC is off on it, so containers of different
overlays never meet there.  As in Docker:

- the network is created on demand, on the first host-local need, with
  ``com.docker.network.bridge.enable_icc=false`` and a pool from the default
  pools (172.18.0.0/16 on a fresh host); it is listed by ``network ls``;
- a container gets the endpoint when it has an endpoint on a non-internal
  overlay and no other non-internal network provides a gateway (an internal
  overlay gets none); it loses it when that no longer holds (e.g. a bridge
  network is connected, or the overlay disconnected);
- the endpoint is not one of the container's configured networks: container
  inspect does not list it, network inspect of ``boxnet_gwbridge`` does.  It
  has no DNS names.

This is an event listener (core/events.py), registered first so that
published ports (core/ports.py) already see the endpoint.
"""

from __future__ import annotations

import asyncio
import logging

from ...core.events import LifecycleListener
from ...errors import BoxnetError, Conflict
from ...model import Container, Endpoint, EndpointSettings, Network

log = logging.getLogger(__name__)

GWBRIDGE = "boxnet_gwbridge"            # network and bridge device name (15 chars)
LABEL = "com.boxnet.network.gwbridge"   # marks the network; core/reconcile.py keeps its endpoints
OPTIONS = {"com.docker.network.bridge.name": GWBRIDGE,
           "com.docker.network.bridge.enable_icc": "false",
           "com.docker.network.bridge.enable_ip_masquerade": "true"}


def is_gwbridge(nw: Network | None) -> bool:
    """Whether ``nw`` is the gateway bridge network."""
    return nw is not None and nw.driver == "bridge" and nw.labels.get(LABEL) == "true"


class GatewayBridge(LifecycleListener):
    """Adds and removes containers' gateway-bridge endpoints as their networks change."""

    def __init__(self, ctl, overlay_driver: str = "overlay"):
        self.ctl = ctl
        self.overlay = overlay_driver
        self._lock = asyncio.Lock()

    def needs_gateway(self, c: Container, exclude: str = "") -> bool:
        """A non-internal overlay endpoint and no other network with a gateway
        (libnetwork's needDefaultGW, for overlays); ``exclude``: an endpoint leaving."""
        need = False
        for ep in self.ctl.container_endpoints(c.id):
            nw = self.ctl.networks.get(ep.network_id)
            if ep.id == exclude or nw is None or nw.internal or is_gwbridge(nw):
                continue
            if nw.driver == self.overlay:
                need = True
            elif ep.gateway4 or ep.gateway6:
                return False
        return need

    def endpoint(self, c: Container) -> tuple[Network | None, Endpoint | None]:
        """The container's gateway-bridge network and endpoint, if it has one."""
        for nid, ep in self.ctl.eps_by_container.get(c.id, {}).items():
            nw = self.ctl.networks.get(nid)
            if is_gwbridge(nw):
                return nw, ep
        return None, None

    async def network(self) -> Network:
        """The gateway bridge network, created on first use."""
        async with self._lock:
            nw = self.ctl.net_by_name.get(GWBRIDGE)
            if nw is not None:
                if not is_gwbridge(nw):
                    raise Conflict(f"a network named {GWBRIDGE} exists but is not boxnet's "
                                   f"gateway bridge: remove it so overlay containers get one")
                return nw
            return await self.ctl.create_network(GWBRIDGE, "bridge", options=dict(OPTIONS),
                                                 labels={LABEL: "true"})

    async def sync(self, c: Container, exclude: str = "") -> bool:
        """Give or take the container's gateway-bridge endpoint; True if changed.
        The caller holds the container's lock and refreshes its routes after."""
        if not c.sandbox_key:
            return False
        gw, ep = self.endpoint(c)
        need = self.needs_gateway(c, exclude)
        if need and ep is None:
            gw = await self.network()
            ep = await self.ctl.join_network(c, gw, EndpointSettings(network_id=gw.id),
                                             c.sandbox_key)
            ep.dns_names = []  # Docker's gwbridge endpoints have no names
            self.ctl.store.put("endpoints", ep.id, ep)
            return True
        if not need and ep is not None:
            await self.ctl.leave_network(c, gw, ep)
            return True
        return False

    async def repair(self, c: Container) -> None:
        """At daemon start: re-plumb a lost gateway-bridge veth, then sync (under the lock)."""
        async with self.ctl.clock(c.id):
            if c.status != "running":
                return
            gw, ep = self.endpoint(c)
            try:
                changed = False
                if ep is not None and not await self.ctl.drivers.get("bridge").endpoint_present(
                        gw, ep, c.sandbox_key):
                    await self.ctl.leave_network(c, gw, ep)
                    changed = True
                if await self.sync(c) or changed:
                    await self.ctl.after_endpoints_changed(c)
            except BoxnetError as exc:
                log.error("gateway bridge of %s: %s", c.name, exc.message)

    # ---- listener (core/events.py) ----------------------------------------
    async def sandbox_ready(self, c: Container) -> None:
        """Container start: every configured endpoint is plumbed; add ours if needed."""
        await self.sync(c)

    async def endpoint_joined(self, c: Container, nw: Network, ep: Endpoint) -> None:
        """A later connect (the core refreshes routes after this event)."""
        if c.status == "running" and not is_gwbridge(nw):
            await self.sync(c)

    async def endpoint_left(self, c: Container, nw: Network, ep: Endpoint) -> None:
        """A disconnect of a running container (``ep`` is still indexed: excluded)."""
        if getattr(c, "status", "") == "running" and not is_gwbridge(nw):
            await self.sync(c, exclude=ep.id)
