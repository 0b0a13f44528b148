"""Docker networks of the ``boxnet-overlay`` plugin driver: boxnet overlays in etcd.

Each dockerd keeps its own (local-scope) network; boxnet maps it onto ONE
global overlay network of the cluster, found by name: ``-o
com.boxnet.overlay.name=X`` (default ``dov-<subnet>``, so two dockerds given
the same ``--subnet`` meet too).  The first dockerd's CreateNetwork claims
the overlay in etcd (name, VNI, subnet in one transaction, as `boxnet network
create -d overlay`); a later one, on any host, joins it if its subnet is the
overlay's.  The map Docker id -> overlay id is kept in the store
(``plugin_overlays``); the overlay leaves the cluster when the last dockerd
anywhere removes its network (handoff.py counts them in etcd).

Addresses: Docker's ``--ipam-driver boxnet-overlay`` asks RequestAddress
before its endpoint exists: the address is claimed in etcd for a placeholder,
bound to the endpoint at CreateEndpoint (drivers/overlay/handoff.py).  Join
and Leave are the overlay driver's ``HandsOffLinks``; the endpoint record it
publishes carries the names given with the endpoint option
``com.boxnet.dns.names`` (plugin/names.py answers them cluster-wide).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time

import msgspec

from ..drivers.api import DockerIpam
from ..errors import BoxnetError, Conflict, InvalidParameter, NotFound, SubnetTaken, Unavailable
from ..ipam.api import PoolRequest
from ..model import Endpoint, Network

log = logging.getLogger(__name__)

KIND = "plugin_overlays"
OWNER = "com.boxnet.plugin.owner"   # same key as core/external.py (label and endpoint option)
JOIN_WAIT = 10.0                    # seconds for another host's new overlay to arrive by watch


class PluginOverlay(msgspec.Struct, frozen=True):
    """One dockerd network on a boxnet overlay."""

    docker_id: str
    network_id: str


def default_name(subnet: str) -> str:
    """The overlay's name when Docker gave no ``com.boxnet.overlay.name``."""
    return "dov-" + subnet.replace("/", "-").replace(":", "-")


class ExternalOverlayOps:
    """Mixin of the Controller (through ExternalOps): the ``boxnet-overlay`` calls."""

    def _docker_ipam(self) -> tuple[str, DockerIpam]:
        for name in self.drivers.names():
            drv = self.drivers.ability(name, DockerIpam)
            if drv is not None:
                return name, drv
        raise Unavailable("boxnet-overlay needs boxnetd in a cluster (--cluster-store "
                          "etcd://HOST:PORT --cluster-advertise ADDR)")

    def _overlay_by_subnet(self, subnet: str) -> Network | None:
        name, _ = self._docker_ipam()
        return next((nw for nw in self.networks.values() if nw.driver == name
                     and any(p.subnet == subnet for p in nw.pools)), None)

    def _overlay_map(self, docker_id: str) -> PluginOverlay | None:
        return next((m for m in self.store.load(KIND, PluginOverlay)
                     if m.docker_id == docker_id), None)

    # ---- IPAM --------------------------------------------------------------
    async def overlay_request_pool(self, pool: str, sub_pool: str, v6: bool) -> tuple[str, str]:
        """(subnet, gateway) for Docker's RequestPool: an overlay's own subnet, or
        one clear of every overlay and of this host's networks and routes."""
        if v6 or (pool and ":" in pool):
            raise InvalidParameter("IPv6 is not supported on boxnet-overlay networks (yet)")
        if sub_pool:
            raise InvalidParameter("--ip-range is not supported on boxnet-overlay networks")
        _, drv = self._docker_ipam()
        known = self._overlay_by_subnet(pool) if pool else None
        if known is not None:
            return pool, known.pools[0].gateway or ""
        local = [ipaddress.ip_network(p.subnet) for p in self.ipam.pools()]
        subnet = await drv.docker_pool(pool, local + list(await self.nl.host_routes()))
        return subnet, str(next(ipaddress.ip_network(subnet).hosts()))

    async def overlay_request_address(self, pool_id: str, address: str, gateway: bool) -> str:
        """An address of the overlay (plain), claimed cluster-wide; the gateway Docker
        asks for (``--gateway``) before the network exists is the one it gave."""
        nw = self._overlay_by_subnet(pool_id)
        addr = address.partition("/")[0]
        if addr:
            try:
                if ipaddress.ip_address(addr) not in ipaddress.ip_network(pool_id):
                    raise InvalidParameter(f"address {addr} is outside the pool {pool_id}")
            except ValueError:
                raise InvalidParameter(f"invalid address {address}") from None
        if gateway:
            if nw is not None and addr and addr != nw.pools[0].gateway:
                raise InvalidParameter(f"the overlay {nw.name}'s gateway is "
                                       f"{nw.pools[0].gateway}, not {addr}")
            return addr or (nw.pools[0].gateway if nw else
                            str(next(ipaddress.ip_network(pool_id).hosts())))
        if nw is None:
            raise NotFound(f"no boxnet overlay has the pool {pool_id}")
        _, drv = self._docker_ipam()
        return (await drv.docker_claim(nw, addr)).partition("/")[0]

    async def overlay_release_address(self, pool_id: str, address: str) -> None:
        """Give an address back (no error if it, its claim or its overlay is gone)."""
        nw = self._overlay_by_subnet(pool_id)
        if nw is not None and address.partition("/")[0] != nw.pools[0].gateway:
            _, drv = self._docker_ipam()
            await drv.docker_release(nw, address)

    # ---- networks ------------------------------------------------------------
    async def create_external_overlay(self, docker_id: str, subnet: str, gateway: str,
                                      name: str, *, internal: bool, options: dict) -> Network:
        """Docker's network on the overlay ``name`` (created with Docker's subnet, or
        joined when its subnet is Docker's); idempotent for a Docker id."""
        known = self._overlay_map(docker_id)
        if known is not None and known.network_id in self.networks:
            return self.networks[known.network_id]
        drv_name, drv = self._docker_ipam()
        name = name or default_name(subnet)
        nw, made = self.net_by_name.get(name), False
        if nw is None:
            try:
                nw = await self.create_network(
                    name, drv_name, internal=internal, attachable=True, options=options,
                    ipam_config=[PoolRequest(subnet=subnet, gateway=gateway or None)],
                    labels={OWNER: "docker"})
                made = True
            except (Conflict, SubnetTaken) as exc:
                # Made on another host meanwhile: its name (Conflict) or its subnet
                # (SubnetTaken, when etcd's claim is seen before the name) wins; the
                # network itself arrives by the watch.  A subnet held by another name
                # is the user's clash and is reported as it is.
                if isinstance(exc, SubnetTaken) and exc.holder != name:
                    raise
                deadline = time.monotonic() + JOIN_WAIT
                while (nw := self.net_by_name.get(name)) is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                if nw is None:
                    raise
        if nw.driver != drv_name:
            raise InvalidParameter(f"network {name} exists on this host and is not an overlay")
        if [p.subnet for p in nw.pools] != [subnet]:
            raise InvalidParameter(f"the overlay {name} has the subnet "
                                   f"{', '.join(p.subnet for p in nw.pools)}: create the "
                                   f"Docker network with --subnet {nw.pools[0].subnet}")
        try:
            await drv.docker_users(nw, docker_id, add=True)
            self.store.put(KIND, docker_id, PluginOverlay(docker_id=docker_id, network_id=nw.id))
        except BoxnetError:
            if made:
                await self.remove_network(nw.id, by_plugin=True)
            raise
        return nw

    def external_overlay(self, docker_id: str) -> Network:
        """The overlay of a Docker network id."""
        m = self._overlay_map(docker_id)
        nw = self.networks.get(m.network_id) if m else None
        if nw is None:
            raise NotFound(f"network {docker_id} not found")
        return nw

    async def remove_external_overlay(self, docker_id: str) -> None:
        """Docker removed its network here: forget the map; the overlay goes from the
        cluster with the last dockerd's network (if the plugin made it)."""
        m = self._overlay_map(docker_id)
        if m is None:
            return
        nw = self.networks.get(m.network_id)
        if nw is not None:
            _, drv = self._docker_ipam()
            left = await drv.docker_users(nw, docker_id, add=False)
            if not left and nw.labels.get(OWNER) == "docker" \
                    and not self.eps_by_network.get(nw.id):
                await self.remove_network(nw.id, by_plugin=True)
        self.store.delete(KIND, docker_id)

    # ---- endpoints ---------------------------------------------------------
    async def create_external_overlay_endpoint(self, docker_nid: str, endpoint_id: str,
                                               ipv4: str, ipv6: str, mac: str,
                                               names: list[str]) -> Endpoint:
        """Record Docker's endpoint on the overlay, its address claim bound to it."""
        nw = self.external_overlay(docker_nid)
        if ipv6:
            raise InvalidParameter("IPv6 is not supported on boxnet-overlay networks (yet)")
        if not ipv4 or ipaddress.ip_interface(ipv4).ip not in ipaddress.ip_network(
                nw.pools[0].subnet):
            raise InvalidParameter(f"address {ipv4 or '(none)'} is outside the network's pools")
        ep = Endpoint(id=endpoint_id, network_id=nw.id, container_id="", ipv4=ipv4, mac=mac,
                      dns_names=list(names), driver_opts={OWNER: "docker"})
        _, drv = self._docker_ipam()
        await drv.bind_claims(nw, ep)
        self.store.put("endpoints", ep.id, ep)
        self._index_endpoint(ep)
        return ep
