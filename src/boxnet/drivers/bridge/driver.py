"""BridgeDriver: bridges, veth endpoints, and the network's firewall entry."""

from __future__ import annotations

import ipaddress
import logging

from ...errors import BoxnetError, Conflict, InvalidParameter
from ...firewall.api import Firewall, FirewallNetwork, endpoint_entry
from ...kernel import brport, sysctl
from ...kernel.spareveth import spare_names
from ...model import Endpoint, Network
from ..api import Driver, FastLeave, HandsOffLinks, KeepsSpares, PublishesPorts, SpareLink
from . import adopt, egress, options

log = logging.getLogger(__name__)


def gateway_cidrs(nw: Network) -> list[str]:
    """Gateway addresses with their subnet's prefix, as put on the bridge
    (none for a family in `isolated` mode, no IPv4 one with inhibit_ipv4)."""
    out = []
    for pool in nw.pools:
        net = ipaddress.ip_network(pool.subnet)
        if pool.gateway and options.bridge_has_address(nw, net.version):
            out.append(f"{pool.gateway}/{net.prefixlen}")
    return out


def _no_host_ipv6(nw: Network) -> bool:
    """`isolated` leaves the host no address at all on the bridge: not even the
    IPv6 link-local the kernel would give it (IPv6 off on the bridge device only;
    the bridge still forwards the containers' IPv6 frames)."""
    fam = 6 if nw.enable_ipv6 else 4
    return options.gateway_mode(nw, fam) == "isolated"


def firewall_entry(nw: Network) -> FirewallNetwork:
    """The firewall's view of a bridge network."""
    return FirewallNetwork(network_id=nw.id, bridge=options.bridge_name(nw),
                           subnets=tuple(p.subnet for p in nw.pools),
                           internal=nw.internal, icc=options.icc(nw),
                           masquerade=options.masquerade(nw),
                           mode4=options.gateway_mode(nw, 4), mode6=options.gateway_mode(nw, 6),
                           trusted=options.trusted_interfaces(nw),
                           snat4=egress.snat_address(nw, 4), snat6=egress.snat_address(nw, 6),
                           strict=egress.strict(nw))


class BridgeDriver(Driver, FastLeave, PublishesPorts, HandsOffLinks, KeepsSpares):
    """Docker's default driver: its endpoints take published ports (DNAT) and are
    guarded against spoofing; a leave before the netns goes is cheap."""

    name = "bridge"

    def __init__(self, netlink, firewall: Firewall):
        self._nl = netlink
        self._fw = firewall

    def validate_options(self, nw: Network) -> None:
        """Check the bridge options before anything is created."""
        options.validate(nw)
        egress.validate(nw)

    async def create_network(self, nw: Network, restoring: bool = False) -> None:
        """Bridge up with its gateway addresses, then the firewall entry."""
        br = options.bridge_name(nw)
        existed = await self._nl.link_exists(br)
        if existed and not restoring and not nw.predefined and not nw.options.get(options.OPT_NAME):
            raise Conflict(f"bridge device {br} already exists")
        try:
            await egress.check_on_host(self._nl, nw)
        except InvalidParameter as exc:
            if not restoring:
                raise
            # the network exists: keep its rules, the address may come back (DHCP, admin)
            log.warning("network %s: %s; its outbound traffic still leaves with it",
                        nw.name, exc.message)
        await adopt.bring_up(self._nl, nw, br, options.mtu(nw), gateway_cidrs(nw), restoring)
        try:
            if _no_host_ipv6(nw):
                sysctl.write_sysctl(f"net/ipv6/conf/{br}/disable_ipv6", "1")
            await self._fw.add_network(firewall_entry(nw))
        except BoxnetError:
            if not existed:
                await self._nl.delete_link(br)
            raise

    async def delete_network(self, nw: Network) -> None:
        """Firewall entry first (so no window of unisolated traffic), then the bridge.

        The bridge is retired at once (down: its routes are gone, so the
        subnet is free; renamed: its name is free) and deleted in the
        background: the deletion itself waits 25-60 ms in the kernel.  A
        bridge this daemon did not create stays (adopt.py).
        """
        errors = []
        try:
            await self._fw.remove_network(nw.id)
        except BoxnetError as exc:
            errors.append(exc.message)
        try:
            await adopt.remove(self._nl, options.bridge_name(nw))  # only if boxnet made it
        except BoxnetError as exc:
            errors.append(exc.message)
        if errors:
            raise BoxnetError("; ".join(errors))

    async def join(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """One veth pair: host end on the bridge, peer as ethN in the sandbox."""
        ep.host_ifname = "veth" + ep.id[:11]
        addrs = [a for a in (ep.ipv4, ep.ipv6) if a]
        # hairpin NAT on the new port, and a reused IP may still map to the
        # previous holder's MAC: both sent along with the veth's own set-up
        ep.mac = await self._nl.attach_veth(ep.host_ifname, options.bridge_name(nw), netns_path,
                                            ep.ifname, ep.mac or None, addrs, options.mtu(nw),
                                            port_setup=brport.port_setup(addrs))
        await self._guard(ep)

    async def leave(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Firewall elements, then the pair: gone from the container and the host
        when this returns (``ifname`` free for the next connect at once), the
        kernel's slow end of the deletion off the request path (kernel/linkops.py)."""
        await self._fw.remove_endpoint(ep.id)
        if ep.host_ifname:
            await self._nl.retire_veth(ep.host_ifname, netns_path, ep.ifname,
                                       [a for a in (ep.ipv4, ep.ipv6) if a])

    async def leave_released(self, nw: Network, ep: Endpoint) -> None:
        """Leave of a sandbox whose netns is about to be released: firewall
        elements now, the host end down now (inert at once), and the pair dies
        with the netns instead of costing a 15-20 ms deletion here."""
        await self._fw.remove_endpoint(ep.id)
        if ep.host_ifname:
            await self._nl.release_veth(ep.host_ifname)

    async def join_handoff(self, nw: Network, ep: Endpoint, peer_name: str) -> None:
        """The Docker plugin's Join: the same veth and anti-spoofing elements as
        join, but the peer stays in this netns (no address: Docker moves it into
        its sandbox, renames it and sets its addresses and MAC)."""
        ep.host_ifname = "veth" + ep.id[:11]
        addrs = [a for a in (ep.ipv4, ep.ipv6) if a]
        ep.mac = await self._nl.make_handoff_veth(ep.host_ifname, options.bridge_name(nw),
                                                  peer_name, ep.mac or None, options.mtu(nw),
                                                  port_setup=brport.port_setup(addrs))
        await self._guard(ep)

    async def _guard(self, ep: Endpoint) -> None:
        """Anti-spoofing (this port may only send with its own MAC and IPs); if the
        firewall refuses, the endpoint's veth pair is deleted and the error raised."""
        entry = endpoint_entry(ep)
        if entry is None:
            return
        try:
            await self._fw.add_endpoint(entry)
        except BoxnetError:
            await self._nl.detach_veth(ep.host_ifname)
            ep.host_ifname = ""
            raise

    async def make_spare(self, nw: Network) -> SpareLink:
        """A spare pair for the plugin's next Join (kernel/spareveth.py): host end down
        on the bridge with hairpin set, peer down, both in this netns."""
        host, peer = spare_names()
        await self._nl.make_spare_veth(host, peer, options.bridge_name(nw), options.mtu(nw),
                                       port_setup=brport.port_setup([]))
        return SpareLink(host=host, peer=peer)

    async def take_spare(self, nw: Network, ep: Endpoint, spare: SpareLink) -> None:
        """join_handoff from a spare: the host end becomes ``veth<id>`` and up, the peer
        gets the endpoint's MAC, the stale neighbour entries of its addresses go, then the
        anti-spoofing elements; any failure deletes the pair."""
        host_ifname = "veth" + ep.id[:11]
        addrs = [a for a in (ep.ipv4, ep.ipv6) if a]
        await self._nl.take_spare_veth(spare.host, host_ifname, spare.peer, ep.mac,
                                       options.bridge_name(nw),
                                       port_setup=brport.port_setup(addrs, hairpin=False))
        ep.host_ifname = host_ifname
        await self._guard(ep)

    async def drop_spare(self, nw: Network, spare: SpareLink) -> None:
        """Delete an unused spare, the kernel's slow part off the caller (linkops.py)."""
        await self._nl.retire_veth(spare.host, "", "")

    async def leave_handoff(self, nw: Network, ep: Endpoint) -> None:
        """Firewall elements, then the pair (its peer in Docker's sandbox goes with it),
        the kernel's slow end of the deletion off the request path (kernel/linkops.py;
        it needs no netns: the host end is what it deletes)."""
        await self._fw.remove_endpoint(ep.id)
        if ep.host_ifname:
            await self._nl.retire_veth(ep.host_ifname, "", "")

    def gateway_mode(self, nw: Network, family: int) -> str:
        """The network's gateway mode for ``family`` (options.py)."""
        return options.gateway_mode(nw, family)

    async def restore_endpoint(self, nw: Network, ep: Endpoint) -> None:
        """Re-add the anti-spoofing elements of an endpoint re-adopted at daemon start."""
        entry = endpoint_entry(ep)
        if entry is not None:
            await self._fw.add_endpoint(entry)

    async def endpoint_present(self, nw: Network, ep: Endpoint, netns_path: str) -> bool:
        """The veth pair is whole and up under its names: a pair whose disconnect
        was cut short by a crash (one end down or renamed, kernel/linkops.py)
        is not, and is plumbed again."""
        return bool(ep.host_ifname) and await self._nl.veth_pair_intact(
            ep.host_ifname, netns_path, ep.ifname)

    def owned_link_names(self, nw: Network) -> set[str]:
        """The network's bridge."""
        return {options.bridge_name(nw)}
