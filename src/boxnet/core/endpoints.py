"""Endpoint operations: address allocation, join/leave through the driver,
and the sandbox's default route (highest gateway priority wins)."""

from __future__ import annotations

import ipaddress
import logging
import os

from ..drivers.api import ClusterIpam, FastLeave
from ..errors import BoxnetError, InvalidParameter
from ..kernel import announce, epconf
from ..model import Container, Endpoint, EndpointSettings, Network
from . import bandwidth, epopts, names, sandbox
from .teardown import Teardown
from .undo import rollback

log = logging.getLogger(__name__)
IFACE_PREFIX = "com.docker.network.container_iface_prefix"
GWBRIDGE_LABEL = "com.boxnet.network.gwbridge"   # the overlay's gateway bridge network


def _prefix(subnet: str) -> int:
    return ipaddress.ip_network(subnet).prefixlen


class EndpointOps:
    """Mixin of the Controller: endpoints and routes."""

    def _next_ifname(self, c: Container, nw: Network) -> str:
        """The first free <prefix>N in the sandbox; the prefix is the network's
        com.docker.network.container_iface_prefix (validated by its driver), else eth."""
        prefix = nw.options.get(IFACE_PREFIX) or "eth"
        used = {e.ifname for e in self.eps_by_container.get(c.id, {}).values()}
        # names asked for with com.docker.network.endpoint.ifname are kept for them
        used.update(epopts.requested_ifname(st) for st in c.networks.values())
        i = 0
        while f"{prefix}{i}" in used:
            i += 1
        return f"{prefix}{i}"

    def _allocate(self, nw: Network, ep: Endpoint, st: EndpointSettings) -> None:
        """Addresses from the network's pools; undone by _release on failure."""
        for pool in nw.pools:
            v6 = ipaddress.ip_network(pool.subnet).version == 6
            want = st.ipv6 if v6 else st.ipv4
            if want and ipaddress.ip_address(want) not in ipaddress.ip_network(pool.subnet):
                continue
            if (ep.ipv6 if v6 else ep.ipv4):
                continue
            addr = self._sticky_address(pool.subnet, "" if want else
                                        (st.last_ipv6 if v6 else st.last_ipv4))
            if addr is None:
                addr = self.ipam.request_address(pool.subnet, want or None)
            cidr = f"{addr}/{_prefix(pool.subnet)}"
            if v6:
                ep.ipv6, ep.gateway6 = cidr, (pool.gateway or "")
            else:
                ep.ipv4, ep.gateway4 = cidr, (pool.gateway or "")

    def _sticky_address(self, subnet: str, last: str) -> str | None:
        """The address this endpoint held at its container's last stop, if it is
        still in the subnet and free (Docker keeps a restarted container's IP
        when it can); None to let the pool choose."""
        if not last or ipaddress.ip_address(last) not in ipaddress.ip_network(subnet):
            return None
        try:
            return self.ipam.request_address(subnet, last)
        except BoxnetError:  # taken meanwhile, or no longer usable
            return None

    @staticmethod
    def remember_addresses(c: Container, ep: Endpoint) -> None:
        """Keep the endpoint's addresses in the container's settings for that
        network, to be asked for again at its next start."""
        st = c.networks.get(ep.network_id)
        if st is not None:
            st.last_ipv4 = ep.ipv4.partition("/")[0]
            st.last_ipv6 = ep.ipv6.partition("/")[0]

    def _release(self, nw: Network, ep: Endpoint) -> None:
        """Give the endpoint's addresses back: each one is tried, one
        BoxnetError lists those that failed."""
        errors = []
        for cidr in (ep.ipv4, ep.ipv6):
            if not cidr:
                continue
            addr = ipaddress.ip_interface(cidr)
            for pool in nw.pools:
                if addr.ip in ipaddress.ip_network(pool.subnet):
                    try:
                        self.ipam.release_address(pool.subnet, str(addr.ip))
                    except BoxnetError as exc:
                        errors.append(f"release of {addr.ip}: {exc.message}")
        if errors:
            raise BoxnetError("; ".join(errors))

    def _dns_names(self, c: Container, nw: Network, st: EndpointSettings) -> list[str]:
        """Names this endpoint answers to on a user-defined network."""
        if nw.predefined:
            return []
        out = [c.name, *st.aliases, c.id[:12]]
        if c.config.hostname and c.config.hostname not in out:
            out.append(c.config.hostname)
        return list(dict.fromkeys(out))

    async def join_network(self, c: Container, nw: Network, st: EndpointSettings,
                           netns_path: str) -> Endpoint:
        """Create one endpoint: allocate, commit, plumb; all undone on failure."""
        drv = self.drivers.get(nw.driver)
        count, interval = epopts.advertise_settings(nw.options)   # announcements, checked first
        ep = Endpoint(id=names.new_id(), network_id=nw.id, container_id=c.id,
                      ifname=epopts.requested_ifname(st) or self._next_ifname(c, nw),
                      mac=st.mac, aliases=list(st.aliases),
                      static_ipv4=st.ipv4, static_ipv6=st.ipv6,
                      driver_opts=dict(st.driver_opts), gw_priority=st.gw_priority,
                      links=list(st.links), dns_names=self._dns_names(c, nw, st),
                      link_local_ips=list(st.link_local_ips))
        async with rollback(f"endpoint {ep.id[:12]} of {c.name} on {nw.name}") as undo:
            if drv.uses_ipam:
                undo.push("release of its addresses", self._release, nw, ep)  # those granted
                if isinstance(drv, ClusterIpam):  # address claims are cluster-store transactions
                    await drv.request_addresses(nw, ep, st)
                else:
                    self._allocate(nw, ep, st)
            self.store.put("endpoints", ep.id, ep)
            undo.push("its removal from the store", self.store.delete, "endpoints", ep.id)
            self._index_endpoint(ep)
            undo.push("unindexing", self._unindex_endpoint, ep)
            if drv.needs_sandbox and netns_path:
                # A join that fails undoes what it made itself (drivers/api.py); a leave
                # pushed before it would remove, by name, what the kernel refused to
                # replace: an `eth1` that someone else put in the container's netns.
                await drv.join(nw, ep, netns_path)
                undo.push("leave", drv.leave, nw, ep, netns_path)
                await self._endpoint_options(ep, netns_path)
            self.store.put("endpoints", ep.id, ep)
        if drv.needs_sandbox and netns_path and ep.mac and count:
            # Docker 28: a gratuitous ARP / unsolicited NA, so a neighbour that
            # knew a reused address under another MAC learns this one at once
            self.spawn(announce.announce(netns_path, ep.ifname, ep.mac,
                                         [a for a in (ep.ipv4, ep.ipv6) if a], count, interval),
                       f"address announcement of {c.name} on {nw.name}")
        return ep

    async def _endpoint_options(self, ep: Endpoint, netns_path: str) -> None:
        """On the plumbed interface: the link-local addresses and the per-interface
        sysctls of its settings (core/epopts.py); undone with the interface."""
        await epconf.add_addresses(self.nl, netns_path, ep.ifname,
                                   epopts.link_local_cidrs(ep.link_local_ips))
        opt = ep.driver_opts.get(epopts.SYSCTLS_OPT)
        if opt:
            await epconf.write_sysctls(netns_path, epopts.sysctl_paths(opt, ep.ifname))
        await bandwidth.apply(self.nl, ep)   # tc on the veth's host end (core/bandwidth.py)

    async def leave_network(self, c: Container, nw: Network | None, ep: Endpoint,
                            released: bool = False) -> None:
        """Remove one endpoint: kernel first, then state, then addresses.

        released: the sandbox's netns is released right after (teardown); a
        FastLeave driver then only makes the endpoint inert and lets its
        kernel objects die with the netns.

        Every step is tried even when one fails (the endpoint is forgotten
        and its addresses freed though the driver failed); one BoxnetError
        then lists every failure."""
        steps = Teardown(f"endpoint {ep.id[:12]} ({ep.ifname})")
        if nw is not None and getattr(c, "id", None):
            await self.events.endpoint_left(c, nw, ep)
        if nw is not None:
            drv = self.drivers.get(nw.driver)
            if drv.needs_sandbox and c.sandbox_key:
                if released and isinstance(drv, FastLeave):
                    await steps.run("driver leave", drv.leave_released, nw, ep)
                else:
                    await steps.run("driver leave", drv.leave, nw, ep, c.sandbox_key)
            await steps.run("rate limits", bandwidth.remove, self.nl, ep)
        self.forget_route_via(c, ep.ifname)
        self._unindex_endpoint(ep)
        await steps.run("removal from the store", self.store.delete, "endpoints", ep.id)
        if nw is not None:
            await steps.run("addresses", self._release, nw, ep)
        steps.done()

    def gateway_endpoint(self, c: Container, v6: bool) -> Endpoint | None:
        """The endpoint that should carry the default route for a family, chosen
        per family as Docker 29.4: the highest GwPriority among the endpoints
        that have a gateway of that family (internal networks have none), ties
        to the network name that sorts first; the overlay's gateway bridge
        (docker_gwbridge) after the others at its priority, as libnetwork's
        Endpoint.Less."""
        best, best_key = None, None
        for ep in self.container_endpoints(c.id):
            nw = self.networks.get(ep.network_id)
            gw = ep.gateway6 if v6 else ep.gateway4
            if nw is None or nw.internal or not gw:
                continue
            key = (-ep.gw_priority, nw.labels.get(GWBRIDGE_LABEL) == "true", nw.name)
            if best_key is None or key < best_key:
                best, best_key = ep, key
        return best

    async def after_endpoints_changed(self, c: Container) -> None:
        """Default routes and /etc/hosts follow the current endpoints.

        The routes last set in each sandbox are remembered (keyed by the
        netns's inode, so a restarted sandbox starts afresh): a connect that
        does not move the default route costs no netlink round trip."""
        if c.status != "running" or not c.sandbox_key:
            return
        try:
            ns = os.stat(c.sandbox_key).st_ino
        except OSError:
            ns = None
        known = self.default_routes.get(c.id)
        if known is None or known[0] != ns or ns is None:
            known = self.default_routes[c.id] = (ns, {})
        for v6 in (False, True):
            ep = self.gateway_endpoint(c, v6)
            want = (ep.gateway6 if v6 else ep.gateway4, ep.ifname) if ep is not None else None
            if v6 in known[1] and known[1][v6] == want:
                continue
            known[1].pop(v6, None)   # unknown until the kernel said yes
            if want is None:
                await self.nl.del_default_route(c.sandbox_key, v6)
            else:
                await self.nl.set_default_route(c.sandbox_key, *want)
            known[1][v6] = want
        cdir = sandbox.container_dir(self.config.containers_dir, c.id)
        sandbox.update_hosts(cdir, c, self.container_endpoints(c.id),
                             sandbox.host_gateway_ip(self.networks, self.config.host_gateway_ips),
                             self.link_lines(c))

    def forget_route_via(self, c: Container, ifname: str) -> None:
        """The kernel dropped the routes through ``ifname`` (its link is gone)."""
        known = self.default_routes.get(getattr(c, "id", None))
        if known is not None:
            for v6, route in list(known[1].items()):
                if route is not None and route[1] == ifname:
                    del known[1][v6]

    def link_lines(self, c: Container, strict: bool = False) -> list[str]:
        """/etc/hosts lines for legacy links (`--link name[:alias]`): the target's
        address on a network both share, then the alias, its short id and name.

        strict (at start): a legacy link (HostConfig.Links of a container on the
        default bridge) to a missing or stopped container is an error, as with Docker.
        On user-defined networks a link is a name only the linking container resolves
        (dns/names.py), allowed before its target exists or runs, as Docker allows it:
        it resolves once the target runs. Later refreshes skip links not running."""
        out = []
        mine = self.eps_by_container.get(c.id, {})
        legacy = any(nw is not None and nw.predefined and nw.name == "bridge"
                     for nw in (self.networks.get(nid) for nid in c.networks))
        specs = [(x, legacy) for x in c.config.links] + [
            (x, False) for st in c.networks.values() for x in st.links]
        for spec, strict_one in specs:
            name, _, alias = spec.partition(":")
            name, alias = name.lstrip("/"), alias.rsplit("/", 1)[-1]
            target = self.cont_by_name.get(name.lstrip("/"))
            if target is None or target.status != "running":
                if strict and strict_one:
                    raise InvalidParameter(f"Cannot link to a non running container: {name} "
                                           f"AS /{c.name}/{alias or name}")
                continue
            theirs = self.eps_by_container.get(target.id, {})
            for nid in mine:
                ep = theirs.get(nid)
                if ep is not None and ep.ipv4:
                    names = dict.fromkeys([alias or target.name, target.id[:12], target.name])
                    out.append(ep.ipv4.split("/")[0] + "\t" + " ".join(names))
                    break
        return out

    async def readdress_endpoint(self, endpoint_id: str, ipv4: str, gateway4: str,
                                 dns_servers: list[str]) -> None:
        """An endpoint's address changed outside the core (a DHCP lease that could not
        be renewed was discovered again with another address, dhcp/leases.py): the
        store, inspect, the DNS records, the policy sets, /etc/hosts and the default
        route follow it at once, and a network "update" event says so (attributes
        container, ipv4, previousIPv4). An endpoint the controller has not loaded yet
        (the keeper's tasks start before `start`) is changed in the store only: the
        start loads it from there."""
        ep = self.endpoints.get(endpoint_id)
        if ep is None:
            for stored in self.store.load("endpoints", Endpoint):
                if stored.id == endpoint_id:
                    old = stored.ipv4
                    stored.ipv4, stored.gateway4 = ipv4, gateway4
                    stored.dns_servers = list(dns_servers)
                    self.store.put("endpoints", stored.id, stored)
                    nw = next((n for n in self.store.load("networks", Network)
                               if n.id == stored.network_id), None)
                    self._readdressed_event(nw, stored, old)
            return
        old = ep.ipv4
        ep.ipv4, ep.gateway4, ep.dns_servers = ipv4, gateway4, list(dns_servers)
        self.store.put("endpoints", ep.id, ep)
        self.dns.changed()
        c, nw = self.containers.get(ep.container_id), self.networks.get(ep.network_id)
        if c is not None:
            # the old address's removal may have taken the routes of the interface
            # with it (kernel/dhcpsock.py): the default route is set again
            self.forget_route_via(c, ep.ifname)
            await self.after_endpoints_changed(c)
        await self.policy.refresh()
        self._readdressed_event(nw, ep, old)

    def _readdressed_event(self, nw: Network | None, ep: Endpoint, old: str) -> None:
        """The network "update" event of an endpoint's new address, and its log line."""
        if nw is not None:
            self.event_feed.publish("network", "update", nw.id, {
                "name": nw.name, "type": nw.driver, "container": ep.container_id,
                "ipv4": ep.ipv4, "previousIPv4": old})
        log.info("endpoint %s of %s: address %s (was %s)", ep.id[:12], ep.container_id[:12],
                 ep.ipv4, old)
