"""Networks and endpoints whose sandboxes another engine owns (the Docker plugin).

libnetwork's remote driver and remote IPAM protocols (plugin/) map onto these
controller operations: the network is a boxnet network (its bridge, firewall
entry and pools are the core's, as for `boxnet network create`), an endpoint is
a boxnet Endpoint with no boxnet container (``container_id`` empty, marked with
``OWNER_OPT`` in its driver options so reconcile keeps it), whose interface is
handed to Docker by name at Join (drivers/api.py ``HandsOffLinks``).

The pools and addresses of Docker's `--ipam-driver boxnet` are the daemon's IPAM:
a pool granted by RequestPool is used as is by the CreateNetwork that follows,
so boxnet's own networks and Docker's never overlap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging

from ..drivers.api import HANDOFF_PEER_OPT, HandsOffLinks, PublishesPorts, SpareLink
from ..errors import BoxnetError, Conflict, InvalidParameter, NotFound
from ..firewall.api import PublishedPort, endpoint_entry
from ..ipam.api import Pool, PoolRequest
from ..model import Endpoint, IpamPool, Network
from .external_overlay import ExternalOverlayOps
from .spares import SpareOps
from .teardown import Teardown

log = logging.getLogger(__name__)

OWNER_OPT = "com.boxnet.plugin.owner"
OWNER_LABEL = "com.boxnet.plugin.owner"
PORTS_OPT = "com.boxnet.plugin.ports"   # the endpoint's published ports (JSON), for restarts
PROTOS = {6: "tcp", 17: "udp", 132: "sctp"}


def external(ep: Endpoint) -> bool:
    """Whether another engine owns the endpoint's sandbox."""
    return bool(ep.driver_opts.get(OWNER_OPT))


class ExternalOps(SpareOps, ExternalOverlayOps):
    """Mixin of the Controller: the operations of the Docker plugin (``boxnet``; the
    ``boxnet-overlay`` ones in external_overlay.py)."""

    # ---- IPAM ------------------------------------------------------------
    async def plugin_request_pool(self, pool: str, sub_pool: str, v6: bool) -> Pool:
        """Reserve a pool (the given subnet, else a free predefined one) for
        Docker; a subnet overlapping another network's is refused."""
        if sub_pool and not pool:
            raise InvalidParameter("a sub-pool needs a pool")
        if pool:
            try:
                v6 = ipaddress.ip_network(pool).version == 6
            except ValueError:
                raise InvalidParameter(f"invalid pool {pool}: not a CIDR") from None
        req = PoolRequest(v6=v6, subnet=pool or None, ip_range=sub_pool or None)
        return self.ipam.request_pool(req, await self.nl.host_routes())

    def plugin_release_pool(self, pool_id: str) -> None:
        """Forget a pool (no error if the network's removal released it already)."""
        if any(p.subnet == pool_id for nw in self.networks.values() for p in nw.pools):
            return   # still a network's: released with it
        self.ipam.release_pool(pool_id)

    def plugin_request_address(self, pool_id: str, address: str) -> str:
        """One address of the pool (``address`` if given and free), plain."""
        if address:
            try:
                ip = ipaddress.ip_address(address.partition("/")[0])
            except ValueError:
                raise InvalidParameter(f"invalid address {address}") from None
            if ip not in ipaddress.ip_network(pool_id):
                raise InvalidParameter(f"address {ip} is outside the pool {pool_id}")
        return self.ipam.request_address(pool_id, address.partition("/")[0] or None)

    def plugin_request_gateway(self, pool_id: str, address: str) -> str:
        """The gateway Docker asks for (`--gateway`): the pool's own gateway is
        reserved already by the pool's grant, and is the one answer at creation."""
        try:
            return self.plugin_request_address(pool_id, address)
        except Conflict:
            return address.partition("/")[0]

    def plugin_release_address(self, pool_id: str, address: str) -> None:
        """Give an address back (no error if it or its pool is gone)."""
        try:
            self.ipam.release_address(pool_id, address.partition("/")[0])
        except NotFound:
            pass

    # ---- networks ----------------------------------------------------------
    async def create_external_network(self, network_id: str, driver: str, pools: list[IpamPool],
                                      *, enable_ipv6: bool, internal: bool,
                                      options: dict) -> Network:
        """A boxnet network with Docker's id and pools: those boxnet's IPAM granted
        (RequestPool) are used as they are, others (Docker's own IPAM) are reserved
        here, so they cannot overlap a boxnet network."""
        drv = self.drivers.get(driver)
        if self.drivers.ability(driver, HandsOffLinks) is None:
            raise InvalidParameter(f"driver {driver} cannot serve Docker networks")
        if network_id in self.networks:
            return self.networks[network_id]   # Docker re-creating after a restart
        granted = {p.subnet for nw in self.networks.values() for p in nw.pools}
        steps = []
        try:
            for p in pools:
                if p.subnet in granted:
                    raise InvalidParameter(f"pool {p.subnet} is used by another network")
                if not self._pool_known(p.subnet):
                    got = self.ipam.request_pool(PoolRequest(
                        v6=ipaddress.ip_network(p.subnet).version == 6, subnet=p.subnet,
                        gateway=p.gateway or None), await self.nl.host_routes())
                    steps.append(got.pool_id)
            nw = await self.create_network(
                "docker-" + network_id[:12], drv.name, network_id=network_id,
                internal=internal, enable_ipv4=any(":" not in p.subnet for p in pools),
                enable_ipv6=enable_ipv6, options=options, labels={OWNER_LABEL: "docker"},
                reserved_pools=pools)
        except BoxnetError:
            for pool_id in steps:
                self.ipam.release_pool(pool_id)
            raise
        self.refill_spare(nw.id)   # the first endpoint's pair, made off its request
        return nw

    def _pool_known(self, pool_id: str) -> bool:
        """Whether the IPAM holds the pool (granted by RequestPool)."""
        try:
            self.ipam.usage(pool_id)
        except NotFound:
            return False
        return True

    async def remove_external_network(self, network_id: str) -> None:
        """Remove a Docker network (no error if it is already gone)."""
        if network_id in self.networks:
            await self.drop_spare(network_id)   # a port of its bridge: gone first
            await self.remove_network(network_id, by_plugin=True)

    # ---- endpoints ---------------------------------------------------------
    def _external_network(self, network_id: str) -> Network:
        nw = self.networks.get(network_id)
        if nw is None:
            raise NotFound(f"network {network_id} not found")
        return nw

    def create_external_endpoint(self, network_id: str, endpoint_id: str, ipv4: str, ipv6: str,
                                 mac: str) -> Endpoint:
        """Record Docker's endpoint (addresses as its IPAM gave them)."""
        nw = self._external_network(network_id)
        for cidr in (ipv4, ipv6):
            if cidr and not any(ipaddress.ip_interface(cidr).ip in ipaddress.ip_network(p.subnet)
                                for p in nw.pools):
                raise InvalidParameter(f"address {cidr} is outside the network's pools")
        gw4 = next((p.gateway for p in nw.pools if ":" not in p.subnet and p.gateway), "")
        gw6 = next((p.gateway for p in nw.pools if ":" in p.subnet and p.gateway), "")
        ep = Endpoint(id=endpoint_id, network_id=nw.id, container_id="", ipv4=ipv4, ipv6=ipv6,
                      gateway4=gw4 if ipv4 and not nw.internal else "",
                      gateway6=gw6 if ipv6 and not nw.internal else "",
                      mac=mac, driver_opts={OWNER_OPT: "docker"})
        self.store.put("endpoints", ep.id, ep)
        self._index_endpoint(ep)
        return ep

    def external_endpoint(self, endpoint_id: str) -> Endpoint:
        """A Docker endpoint by id."""
        ep = self.endpoints.get(endpoint_id)
        if ep is None or not external(ep):
            raise NotFound(f"endpoint {endpoint_id} not found")
        return ep

    def prepare_external_join(self, endpoint_id: str, peer_name: str) -> None:
        """Start plumbing the endpoint (veth, anti-spoofing elements) as soon as Docker has
        created it, so the work overlaps what dockerd does between CreateEndpoint and Join
        (its own store writes, the sandbox); join_external() waits for it and reports its
        failure. A Docker endpoint deleted without a Join waits for it too, then unplumbs."""
        ep = self.external_endpoint(endpoint_id)
        spare = self.take_spare(ep.network_id) if ep.mac else None   # core/spares.py
        self._prepared_joins[endpoint_id] = self.spawn(
            self._plumb_external(ep, peer_name, spare),
            f"plumbing of Docker endpoint {endpoint_id[:12]}")

    async def _plumb_external(self, ep: Endpoint, peer_name: str,
                              spare: SpareLink | None = None) -> None:
        """The endpoint's pair from ``spare`` if it can be used, else made here; the
        peer handed over is recorded in its driver options (HANDOFF_PEER_OPT)."""
        nw = self._external_network(ep.network_id)
        if spare is not None and await self.use_spare(nw, ep, spare):
            peer_name = spare.peer
        else:
            await self.drivers.ability(nw.driver, HandsOffLinks).join_handoff(nw, ep, peer_name)
        ep.driver_opts[HANDOFF_PEER_OPT] = peer_name
        self.store.put("endpoints", ep.id, ep)
        self.refill_spare(nw.id)

    async def _prepared(self, endpoint_id: str, report: bool = True) -> bool:
        """Wait for a prepared plumbing of the endpoint; False if there was none. Its
        failure is raised here when ``report`` (to the Join that needs it)."""
        task = self._prepared_joins.pop(endpoint_id, None)
        if task is None:
            return False
        await asyncio.wait([task])   # never cancels it, nor swallows our own cancellation
        if report and task.cancelled():
            raise BoxnetError("the daemon is shutting down")
        if report and task.exception() is not None:
            raise task.exception()
        return True

    async def join_external(self, endpoint_id: str, peer_name: str) -> Endpoint:
        """Plumb the endpoint, leaving its container end ``peer_name`` for Docker."""
        ep = self.external_endpoint(endpoint_id)
        if not await self._prepared(endpoint_id):
            await self._plumb_external(ep, peer_name)
        return ep   # its driver_opts[HANDOFF_PEER_OPT]: the peer to hand to Docker

    async def leave_external(self, endpoint_id: str) -> None:
        """Unplumb the endpoint (no error if it or its links are gone)."""
        await self._prepared(endpoint_id, report=False)   # a failure was logged by spawn()
        ep = self.endpoints.get(endpoint_id)
        nw = self.networks.get(ep.network_id) if ep is not None else None
        if ep is None or nw is None or not ep.host_ifname:
            return
        await self.drivers.ability(nw.driver, HandsOffLinks).leave_handoff(nw, ep)
        ep.host_ifname = ""
        self.store.put("endpoints", ep.id, ep)

    async def delete_external_endpoint(self, endpoint_id: str) -> None:
        """Forget the endpoint (its addresses are Docker's to release), going on past failures."""
        ep = self.endpoints.get(endpoint_id)
        if ep is None:
            return
        steps = Teardown(f"endpoint {endpoint_id[:12]}")
        await steps.run("its published ports", self.revoke_external_ports, endpoint_id)
        await steps.run("leave", self.leave_external, endpoint_id)
        self._unindex_endpoint(ep)
        await steps.run("removal from the store", self.store.delete, "endpoints", ep.id)
        steps.done()

    # ---- published ports ---------------------------------------------------
    def _external_ports(self, ep: Endpoint) -> list[PublishedPort]:
        return [PublishedPort(**x) for x in json.loads(ep.driver_opts.get(PORTS_OPT) or "[]")]

    def _ports_in_use(self, skip: str) -> set[tuple]:
        keys = {p.key() for ep in self.endpoints.values()
                if external(ep) and ep.id != skip for p in self._external_ports(ep)}
        for c in self.containers.values():
            for b in self.ports.bindings(c.id):
                for fam in b.families:
                    keys.add((fam, b.proto, b.host_ip, b.host_port))
                    keys.add((fam, b.proto, "", b.host_port))
        return keys

    async def program_external_ports(self, endpoint_id: str, bindings: list) -> None:
        """Publish Docker's port bindings (libnetwork PortBinding: Proto number, Port,
        HostIP, HostPort, HostPortEnd) to the endpoint through boxnet's NAT; a host
        port taken already (by Docker's or boxnet's containers), a port range or a
        random host port (HostPort 0) is refused, nothing published."""
        ep = self.external_endpoint(endpoint_id)
        nw = self._external_network(ep.network_id)
        pub = self.drivers.ability(nw.driver, PublishesPorts)
        if not bindings:
            return
        if pub is None or nw.internal or not ep.ipv4:
            raise InvalidParameter("ports cannot be published on this network "
                                   "(internal, or no IPv4 address)")
        used = self._ports_in_use(ep.id)
        out = []
        for b in bindings:
            proto = PROTOS.get(b.Proto)
            if proto is None:
                raise InvalidParameter(f"unknown protocol number {b.Proto}")
            if not b.HostPort or (b.HostPortEnd and b.HostPortEnd != b.HostPort):
                raise InvalidParameter(f"{b.Port}/{proto}: the boxnet plugin needs one host "
                                       f"port per binding (-p HOSTPORT:{b.Port}), not a random "
                                       f"one or a range")
            host_ip = "" if b.HostIP in ("", "0.0.0.0") else b.HostIP
            if ":" in host_ip:
                raise InvalidParameter(f"{host_ip}: IPv6 host addresses are not supported by "
                                       f"the boxnet plugin")
            p = PublishedPort(container_id=ep.id, family=4, proto=proto, host_ip=host_ip,
                              host_port=b.HostPort, container_ip=ep.ipv4.partition("/")[0],
                              container_port=b.Port, mode=pub.gateway_mode(nw, 4))
            if p.key() in used or (4, proto, "", b.HostPort) in used:
                raise InvalidParameter(f"Bind for {b.HostIP or '0.0.0.0'}:{b.HostPort} failed: "
                                       f"port is already allocated")
            used.add(p.key())
            out.append(p)
        await self.firewall.add_ports(out)
        ep.driver_opts[PORTS_OPT] = json.dumps([
            {f: getattr(p, f) for f in p.__struct_fields__} for p in out])
        self.store.put("endpoints", ep.id, ep)

    async def revoke_external_ports(self, endpoint_id: str) -> None:
        """Unpublish the endpoint's ports (no error if none)."""
        ep = self.endpoints.get(endpoint_id)
        if ep is None or not external(ep) or PORTS_OPT not in ep.driver_opts:
            return
        await self.firewall.remove_ports(self._external_ports(ep))
        del ep.driver_opts[PORTS_OPT]
        self.store.put("endpoints", ep.id, ep)

    async def restore_external_endpoints(self) -> int:
        """At daemon start: the firewall elements of Docker's plumbed endpoints
        (their links outlived the daemon), and the networks' spares started; returns
        how many endpoints."""
        n = 0
        for ep in list(self.endpoints.values()):
            nw = self.networks.get(ep.network_id)
            if nw is None or not self.drivers.ability(nw.driver, PublishesPorts):
                continue   # an overlay's: no anti-spoofing elements, its record is the cluster's
            if external(ep) and ep.host_ifname and await self.nl.link_exists(ep.host_ifname):
                entry = endpoint_entry(ep)
                if entry is not None:
                    await self.firewall.add_endpoint(entry)
                    n += 1
                if PORTS_OPT in ep.driver_opts:
                    await self.firewall.add_ports(self._external_ports(ep))
        for nw in list(self.networks.values()):   # after the orphans went (core/orphans.py)
            if nw.labels.get(OWNER_LABEL) == "docker":
                self.refill_spare(nw.id)
        return n
