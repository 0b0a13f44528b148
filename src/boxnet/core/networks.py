"""Network operations: create, remove, prune, connect, disconnect."""

from __future__ import annotations

import ipaddress
import logging

from ..drivers.api import ClusterIpam, DhcpLeases, HostStack, InspectExtras, NoNetwork
from ..errors import BoxnetError, Conflict, Forbidden, InvalidParameter, NotFound
from ..ipam import dhcp as dhcp_ipam
from ..ipam.api import PoolRequest
from ..model import EndpointSettings, IpamPool, Network
from . import epopts, names
from .clock import now_rfc3339
from .spans import Spans
from .teardown import Teardown
from .undo import rollback

log = logging.getLogger(__name__)

PREDEFINED = ("bridge", "host", "none")
DOCKER_OWNED = "com.boxnet.plugin.owner"   # label of a network Docker made (core/external.py)


def _family_is_v6(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).version == 6
    except ValueError:
        raise InvalidParameter(f"invalid subnet {cidr}: not a CIDR (example: 172.20.0.0/16)") from None


class NetworkOps:
    """Mixin of the Controller: network lifecycle."""

    async def create_network(self, name: str, driver: str = "bridge", *, internal=False,
                             attachable=False, enable_ipv4=True, enable_ipv6=False,
                             ipam_driver="default", ipam_config=(), ipam_options=None,
                             options=None, labels=None, predefined=False,
                             network_id: str | None = None,
                             reserved_pools: list[IpamPool] | None = None) -> Network:
        """Validate everything, reserve pools, commit, then build kernel objects."""
        name = names.validate_network_name(name)
        drv = self.drivers.get(driver or "bridge")
        if not drv.user_creatable and not predefined:
            raise Forbidden(f'only one instance of "{drv.name}" network is allowed')
        dhcp = dhcp_ipam.uses_dhcp(ipam_driver)
        if ipam_driver not in ("", "default", None) and not dhcp:
            raise NotFound(f'plugin "{ipam_driver}" not found')
        if dhcp:
            dhcp_ipam.check_network(drv.name, isinstance(drv, DhcpLeases), list(ipam_config),
                                    enable_ipv4, enable_ipv6, ipam_options)
        if not enable_ipv4 and not enable_ipv6 and drv.uses_ipam:
            raise InvalidParameter("a network must have IPv4 or IPv6 (or both) enabled")
        async with self.netlock:
            if name in self.net_by_name:
                raise Conflict(f"network with name {name} already exists")
            nw = Network(id=network_id or names.new_id(), name=name, driver=drv.name,
                         scope=drv.scope, created=now_rfc3339(), internal=internal,
                         attachable=attachable, enable_ipv4=enable_ipv4,
                         enable_ipv6=enable_ipv6, ipam_options=dict(ipam_options or {}),
                         options=dict(options or {}), labels=dict(labels or {}),
                         predefined=predefined, ipam_driver=dhcp_ipam.NAME if dhcp else "default")
            drv.validate_options(nw)
            if drv.uses_ipam and isinstance(drv, ClusterIpam):  # pools in the cluster store
                nw.pools = await drv.request_pools(nw, list(ipam_config), self.ipam,
                                                   await self.nl.host_routes())
            elif reserved_pools is not None:   # granted already (the Docker plugin's IPAM)
                nw.pools = list(reserved_pools)
            elif drv.uses_ipam and not dhcp:   # dhcp: the driver's join leases the address
                nw.pools = await self._request_pools(nw, list(ipam_config))
            async with rollback(f"network {name}") as undo:
                for pool in nw.pools:
                    undo.push(f"release of pool {pool.subnet}", self.ipam.release_pool,
                              pool.subnet)
                self.store.put("networks", nw.id, nw)
                undo.push("its removal from the store", self.store.delete, "networks", nw.id)
                self._index_network(nw)
                undo.push("unindexing", self._unindex_network, nw)
                await drv.create_network(nw)
        log.info("network %s (%s) created", name, nw.id[:12])
        await self.events.network_created(nw)
        return nw

    async def _request_pools(self, nw: Network, configs: list[PoolRequest]) -> list[IpamPool]:
        """IPAM pools for each family in use; all granted or none."""
        for cfg in configs:
            if cfg.subnet is None and (cfg.gateway or cfg.ip_range):
                raise InvalidParameter("a gateway or ip-range needs a subnet (--subnet)")
            if cfg.subnet is not None:
                cfg.v6 = _family_is_v6(cfg.subnet)
        v4 = [c for c in configs if not c.v6]
        v6 = [c for c in configs if c.v6]
        if v6 and not nw.enable_ipv6:
            raise InvalidParameter("an IPv6 subnet was given but IPv6 is not enabled (add --ipv6)")
        if v4 and not nw.enable_ipv4:
            raise InvalidParameter("an IPv4 subnet was given but IPv4 is disabled (--ipv4=false)")
        if nw.enable_ipv4 and not v4:
            v4 = [PoolRequest(v6=False)]
        if nw.enable_ipv6 and not v6:
            v6 = [PoolRequest(v6=True)]
        avoid = await self.nl.host_routes(v4=bool(v4), v6=bool(v6))   # a family's own routes
        granted = []
        async with rollback(f"the pools of network {nw.name}") as undo:
            for req in v4 + v6:
                pool = self.ipam.request_pool(req, avoid)
                undo.push(f"release of pool {pool.subnet}", self.ipam.release_pool, pool.subnet)
                granted.append(IpamPool(subnet=pool.subnet, gateway=pool.gateway,
                                        ip_range=pool.ip_range,
                                        aux_addresses=dict(pool.aux_addresses),
                                        user_subnet=pool.user_subnet))
        return granted

    async def remove_network(self, ref: str, *, by_plugin: bool = False) -> None:
        """Remove a network that no container uses (one Docker made through the
        plugin only when Docker asks: core/external.py)."""
        nw = self.network(ref)
        if nw.predefined:
            raise Forbidden(f"{nw.name} is a pre-defined network and cannot be removed")
        if nw.labels.get(DOCKER_OWNED) == "docker" and not by_plugin:
            raise Forbidden(f"network {nw.name} is Docker's (made through the boxnet plugin): "
                            f"remove it with docker network rm")
        async with self.netlock:
            active = self.eps_by_network.get(nw.id, {})
            if active:
                who = ", ".join(f'(name:"{self.containers[e.container_id].name}" id:"{e.container_id[:12]}")'
                                for e in active.values() if e.container_id in self.containers)
                raise Forbidden(f"error while removing network: network {nw.name} id {nw.id} "
                                f"has active endpoints {who}")
            # every step is tried even when one fails; one error lists the failures
            steps = Teardown(f"error while removing network {nw.name} id {nw.id}")
            drv = self.drivers.get(nw.driver)
            if isinstance(drv, ClusterIpam):
                # a global network is the cluster store's: if the driver fails there,
                # it stays everywhere, here too (the user may retry)
                deferred = await drv.delete_network(nw)
            else:
                deferred = await steps.run("its kernel objects", drv.delete_network, nw)
            if deferred:
                # deferred (overlay still used on other hosts): the driver finishes it
                log.info("network %s (%s): removal pending", nw.name, nw.id[:12])
                return
            for pool in nw.pools:
                await steps.run(f"release of pool {pool.subnet}", self.ipam.release_pool,
                                pool.subnet)
            await steps.run("its removal from the store", self.store.delete, "networks", nw.id)
            self._unindex_network(nw)
        log.info("network %s (%s) removed", nw.name, nw.id[:12])
        await self.events.network_removed(nw)
        steps.done()

    def network_has(self, nw: Network, ability: type) -> bool:
        """Whether `nw`'s driver has `ability` (an interface of drivers/api.py)."""
        return self.drivers.ability(nw.driver, ability) is not None

    def inspect_extras(self, nw: Network, local_endpoints: int) -> dict:
        """The fields a driver adds to a network inspect (InspectExtras), or none."""
        drv = self.drivers.ability(nw.driver, InspectExtras)
        return drv.inspect_extras(nw, local_endpoints) if drv is not None else {}

    def uses_host_stack(self, c) -> bool:
        """Whether container `c` is on a network whose driver shares the host's
        network stack (HostStack: the `host` network)."""
        return any(self.network_has(self.networks[n], HostStack) for n in c.networks
                   if n in self.networks)

    def used_network_ids(self) -> set[str]:
        """Networks that a container is attached to or configured for."""
        used = {nid for nid, eps in self.eps_by_network.items() if eps}
        for c in self.containers.values():
            used.update(c.networks)
        return used

    async def prune_networks(self, keep) -> list[str]:
        """Remove unused user networks for which keep(nw) is False; return names."""
        used = self.used_network_ids()
        removed = []
        for nw in list(self.networks.values()):
            if nw.predefined or nw.id in used or keep(nw) or nw.labels.get(DOCKER_OWNED):
                continue
            try:
                await self.remove_network(nw.id)
                removed.append(nw.name)
            except BoxnetError as exc:
                log.warning("prune: %s: %s", nw.name, exc.message)
                if nw.id not in self.networks:   # removed, though a step failed
                    removed.append(nw.name)
        return removed

    async def connect(self, net_ref: str, cont_ref: str, settings: EndpointSettings) -> None:
        """Attach a container to a network (now if running, at start otherwise)."""
        nw = self.network(net_ref)
        c = self.container(cont_ref)
        settings.network_id = nw.id
        async with self.clock(c.id), rollback(f"the connect of {c.name} to {nw.name}") as undo:
            self._check_connect(c, nw, settings)
            if c.status == "running":
                ep = await self.join_network(c, nw, settings, c.sandbox_key)
                undo.push("restoring its routes and /etc/hosts", self.after_endpoints_changed, c)
                undo.push("leave", self.leave_network, c, nw, ep)
                await self.events.endpoint_joined(c, nw, ep)
                await self.after_endpoints_changed(c)
            c.networks[nw.id] = settings
            undo.push("dropping the network from its settings", c.networks.pop, nw.id, None)
            self.save_container(c)

    def _check_connect(self, c, nw: Network, settings: EndpointSettings) -> None:
        """Docker's rules for what may be connected where."""
        mode = c.config.network_mode
        if mode == "host" or mode.startswith("container:"):
            raise Forbidden("container sharing network namespace with another container or host "
                            "cannot be connected to any other network")
        current = [self.networks[n] for n in c.networks if n in self.networks]
        if any(self.network_has(n, HostStack) for n in (nw, *current)):
            raise Forbidden("container cannot be disconnected from host network or connected "
                            "to host network")
        if (current and self.network_has(nw, NoNetwork)) or \
                any(self.network_has(n, NoNetwork) for n in current):
            raise Forbidden("container cannot be connected to multiple networks with one of the "
                            "networks in private (none) mode")
        if nw.id in c.networks:
            raise Forbidden(f"endpoint with name {c.name} already exists in network {nw.name}")
        self.validate_static(nw, settings)
        used = {"lo", *(e.ifname for e in self.eps_by_container.get(c.id, {}).values()),
                *(epopts.requested_ifname(st) for st in c.networks.values())}
        epopts.check_ifname_clash(settings, used, nw.name)

    def validate_static(self, nw: Network, settings: EndpointSettings) -> None:
        """Static addresses only in user subnets, inside them, and well-formed;
        the endpoint options well-formed (core/epopts.py)."""
        epopts.check_settings(settings)
        if dhcp_ipam.uses_dhcp(nw.ipam_driver):
            dhcp_ipam.check_static(nw.name, settings.ipv4, settings.ipv6)
        for addr, v6 in ((settings.ipv4, False), (settings.ipv6, True)):
            if not addr:
                continue
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError:
                raise InvalidParameter(f"invalid IP address {addr!r}") from None
            if (ip.version == 6) != v6:
                raise InvalidParameter(f"invalid IPv{6 if v6 else 4} address {addr}")
            if not (nw.enable_ipv6 if v6 else nw.enable_ipv4):   # e.g. an IPv6-only network
                raise InvalidParameter(f"invalid IPv{ip.version} address {addr}: IPv{ip.version} "
                                       f"is not enabled on network {nw.name}")
            pools = [p for p in nw.pools if ipaddress.ip_network(p.subnet).version == ip.version]
            if not any(p.user_subnet for p in pools):
                raise InvalidParameter("user specified IP address is supported only when "
                                       "connecting to networks with user configured subnets")
            if not any(ip in ipaddress.ip_network(p.subnet) for p in pools):
                raise InvalidParameter(f"no configured subnet contains IP address {addr}")

    async def disconnect(self, net_ref: str, cont_ref: str, force: bool = False) -> None:
        """Detach a container from a network."""
        nw = self.network(net_ref)
        c = self.container(cont_ref)
        spans = Spans(f"disconnect of {c.name} from {nw.name}")
        async with self.clock(c.id):
            spans.mark("lock")
            if nw.id not in c.networks and nw.id not in self.eps_by_container.get(c.id, {}):
                raise Forbidden(f"container {c.id[:12]} is not connected to network {nw.name}")
            if self.network_has(nw, HostStack) and c.status == "running":
                raise Forbidden("container cannot be disconnected from host network or connected "
                                "to host network")
            # every step is tried even when one fails; one error lists the failures
            steps = Teardown(f"disconnect of {c.name} from network {nw.name}")
            ep = self.eps_by_container.get(c.id, {}).get(nw.id)
            if ep is not None:
                await steps.run("leave", self.leave_network, c, nw, ep)
                spans.mark("leave")
                await steps.run("routes and /etc/hosts", self.after_endpoints_changed, c)
                spans.mark("routes and /etc/hosts")
            c.networks.pop(nw.id, None)
            await steps.run("saving the container", self.save_container, c)
            spans.mark("store")
            spans.log()
            steps.done()
