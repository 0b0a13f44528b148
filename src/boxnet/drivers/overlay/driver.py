"""OverlayDriver: global-scope networks spanning hosts over VXLAN.

Data plane per network and host (in the daemon's host netns): a bridge
``ov-<id12>`` with NO address, and a VXLAN device ``vx-<id12>`` (learning
off, ARP proxy on) enslaved to it; containers join the bridge with a veth.
Remote endpoints become static FDB + neighbour entries (peers.py) fed by
the cluster's etcd watch.

Outbound traffic, as in Docker: the overlay is a pure L2 segment.  The
host has no address and no route on it (so the host netns cannot reach
overlay containers), the firewall treats the bridge as internal (nothing
is routed in or out of it), and an overlay endpoint has no gateway.  A
container on a non-internal overlay gets a second endpoint on the local
bridge network ``boxnet_gwbridge`` (NAT, ICC off) that carries its default
route: gwbridge.py.

IPv6 (``--ipv6``): a second pool, per-endpoint IPv6 claims, and permanent
NDP neighbour entries on the VXLAN device (its proxy answers Neighbour
Solicitations as it answers ARP).  No IPv6 gateway: the gateway bridge is
IPv4 only, so IPv6 stays inside the overlay.

The MTU is the underlay's minus 50 (VXLAN over IPv4) unless set.
"""

from __future__ import annotations

import logging
import os

from ...errors import BoxnetError, Forbidden, InvalidParameter, Unavailable
from ...firewall.api import Firewall, FirewallNetwork
from ...ipam.api import PoolRequest
from ...model import Endpoint, EndpointSettings, Network
from ..api import ClusterIpam, DockerIpam, Driver, HandsOffLinks, InspectExtras
from ..bridge import egress
from ..bridge import options as bropts
from . import records as R
from . import removal
from .allocator import OPT_MTU, OPT_VNI, GlobalIpam, requested_vni
from .handoff import OverlayHandoff
from .peers import PeerTable, vxlan_name

log = logging.getLogger(__name__)
VXLAN_OVERHEAD = 50
KNOWN_OPTS = {OPT_MTU, "com.docker.network.driver.overlay.vxlanid_list", "vxlanid_list",
              "encrypted"}


def bridge_name(nw: Network) -> str:
    """The overlay network's bridge on every host."""
    return "ov-" + nw.id[:12]


class OverlayDriver(OverlayHandoff, Driver, ClusterIpam, InspectExtras, HandsOffLinks, DockerIpam):
    """Docker's overlay driver, with etcd (the cluster store) as its control plane:
    global IPAM, and the peers (and a pending removal) in network inspect; Docker's
    ``boxnet-overlay`` plugin driver hands its links to dockerd (handoff.py)."""

    name = "overlay"
    scope = "global"

    def __init__(self, netlink, vxlan, firewall: Firewall, gipam: GlobalIpam,
                 advertise: str, port: int, underlay_mtu: int):
        self._nl = netlink
        self._vx = vxlan
        self._fw = firewall
        self.gipam = gipam
        self.advertise = advertise
        self.port = port
        self.underlay_mtu = underlay_mtu
        self.peers = PeerTable(vxlan)
        self.hostname = os.uname().nodename
        #: networks with a pending ``network rm`` (removal.py), kept up to date by the watch
        self.removing: dict[str, R.Removal] = {}

    # ---- validation and global allocation (called by the core) ----------
    def validate_options(self, nw: Network) -> None:
        """Options an overlay can honour."""
        if "encrypted" in nw.options:
            raise InvalidParameter("encrypted overlay networks are not supported")
        egress.refuse_bridge_only(nw, "overlay")
        bropts.mtu(nw)
        requested_vni(nw)

    async def request_pools(self, nw: Network, configs: list, ipam, avoid) -> list:
        """Global IPAM (ClusterIpam): claim name, VNI and subnets
        (one IPv4, and one IPv6 with ``--ipv6``) in etcd."""
        v4, v6 = [], []
        for cfg in configs:
            if not cfg.subnet and (cfg.gateway or cfg.ip_range):
                raise InvalidParameter("a gateway or ip-range needs a subnet (--subnet)")
            (v6 if cfg.v6 or (cfg.subnet and ":" in cfg.subnet) else v4).append(cfg)
        if len(v4) > 1 or len(v6) > 1:
            raise InvalidParameter("overlay networks take one subnet per address family "
                                   "(one IPv4, one IPv6)")
        if v6 and not nw.enable_ipv6:
            raise InvalidParameter("an IPv6 subnet was given but IPv6 is not enabled (add --ipv6)")
        if v4 and not nw.enable_ipv4:
            raise InvalidParameter("an IPv4 subnet was given but IPv4 is disabled (--ipv4=false)")
        cfg = v4[0] if v4 else PoolRequest()
        req6 = (v6[0] if v6 else PoolRequest(v6=True)) if nw.enable_ipv6 else None
        if not nw.options.get(OPT_MTU):
            nw.options[OPT_MTU] = str(self.underlay_mtu - VXLAN_OVERHEAD)
        return await self.gipam.claim_network(nw, cfg.subnet, cfg.gateway, cfg.ip_range,
                                              ipam, avoid, v6=req6)

    async def request_addresses(self, nw: Network, ep: Endpoint, st: EndpointSettings) -> None:
        """Global IPAM (ClusterIpam): claim the endpoint's address in etcd; refused
        (403) while a removal of the network is pending.  The endpoint gets no
        gateway: outbound traffic leaves through the gateway bridge (gwbridge.py)."""
        kv = await self.gipam.etcd.get(R.REMOVING + nw.id)
        if kv is not None:
            rm = R.removal_dec.decode(kv.value)
            self.removing[nw.id] = rm
            raise Forbidden(f"network {nw.name} id {nw.id} is being removed (network rm on host "
                            f"{rm.host} at {rm.since}): no new endpoints; it goes away when its "
                            f"last endpoint leaves")
        await self.gipam.claim_address(nw, ep, st)
        ep.gateway4 = ep.gateway6 = ""

    # ---- kernel ------------------------------------------------------
    def _mtu(self, nw: Network) -> int:
        return bropts.mtu(nw) or (self.underlay_mtu - VXLAN_OVERHEAD)

    def _fw_entry(self, nw: Network) -> FirewallNetwork:
        # internal for the firewall whatever the user asked: nothing is ever routed
        # in or out of an overlay bridge (outbound goes through the gateway bridge)
        return FirewallNetwork(network_id=nw.id, bridge=bridge_name(nw),
                               subnets=tuple(p.subnet for p in nw.pools),
                               internal=True, icc=True, masquerade=False)

    async def create_network(self, nw: Network, restoring: bool = False) -> None:
        """Bridge (no address) + VXLAN + firewall entry; programs the peers already
        known.  A fresh create (not restoring) that fails also withdraws the etcd claims."""
        br = bridge_name(nw)
        vni = int(nw.options.get(OPT_VNI) or 0)
        try:
            await self._nl.ensure_bridge(br, mtu=self._mtu(nw), addrs=[])
            await self._vx.ensure_vxlan(vxlan_name(nw.id), vni, self.advertise, self.port, br,
                                        self._mtu(nw))
            await self._fw.add_network(self._fw_entry(nw))
        except BaseException:
            await self._teardown(nw)
            if not restoring:
                try:
                    await self.gipam.release_network(nw)
                except BoxnetError as exc:
                    log.error("withdrawing network %s from the store: %s", nw.name, exc.message)
            raise
        await self.peers.network_plumbed(nw.id)

    async def _teardown(self, nw: Network) -> list[str]:
        errors = []
        self.peers.network_unplumbed(nw.id)
        for step in (lambda: self._fw.remove_network(nw.id),
                     lambda: self._nl.delete_link(vxlan_name(nw.id)),
                     lambda: self._nl.delete_link(bridge_name(nw))):
            try:
                await step()
            except BoxnetError as exc:
                errors.append(exc.message)
        return errors

    async def delete_network(self, nw: Network) -> bool:
        """User removal (the core checked that this host has no endpoint on it):
        mark it in the store, then remove it at once if no host has endpoints
        (False: the core forgets it here, the other hosts follow by watch), or
        leave the removal pending until the last endpoint anywhere leaves
        (True: deferred, every host drops it by watch then)."""
        self.removing[nw.id] = await removal.mark(self.gipam.etcd, nw, self.advertise)
        if not await removal.try_finish(self.gipam.etcd, nw):
            users = await removal.users(self.gipam.etcd, nw.id)
            log.info("network %s: removal pending until the endpoints on other hosts leave (%s)",
                     nw.name, ", ".join(f"{h}: {n}" for h, n in sorted(users.items())))
            return True
        self.removing.pop(nw.id, None)
        errors = await self._teardown(nw)
        if errors:
            raise BoxnetError("; ".join(errors))
        return False

    async def remove_local(self, nw: Network) -> None:
        """The network was removed elsewhere: only this host's kernel objects go."""
        errors = await self._teardown(nw)
        if errors:
            log.warning("removing overlay %s: %s", nw.name, "; ".join(errors))

    async def join(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """A veth on the overlay bridge, then the endpoint record in etcd (on our lease)."""
        ep.host_ifname = "veth" + ep.id[:11]
        addrs = [a for a in (ep.ipv4, ep.ipv6) if a]
        ep.mac = await self._nl.attach_veth(ep.host_ifname, bridge_name(nw), netns_path,
                                            ep.ifname, ep.mac or None, addrs, self._mtu(nw))
        try:
            await self.publish(nw, ep)
        except BaseException:
            await self._nl.detach_veth(ep.host_ifname)
            raise

    def record(self, nw: Network, ep: Endpoint) -> R.EndpointRecord:
        """The endpoint as other hosts see it."""
        return R.EndpointRecord(network_id=nw.id, endpoint_id=ep.id, container_id=ep.container_id,
                                host=self.advertise, vtep=self.advertise, mac=ep.mac,
                                ipv4=ep.ipv4, ipv6=ep.ipv6, names=list(ep.dns_names))

    async def publish(self, nw: Network, ep: Endpoint) -> None:
        """Write (or re-write) the endpoint's record on the current lease."""
        await self.gipam.etcd.put(R.endpoint_key(nw.id, ep.id),
                                  R.ENC.encode(self.record(nw, ep)), lease=self.gipam.lease)

    async def leave(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Kernel first; then the record and the address claim (if the store is
        down they stay until the next resync or the lease's end)."""
        if ep.host_ifname:
            await self._nl.detach_veth(ep.host_ifname)
        try:
            await self.gipam.etcd.delete(R.endpoint_key(nw.id, ep.id))
            await self.gipam.release_address(nw, ep)
        except Unavailable as exc:
            log.warning("endpoint %s left while the store is down: %s", ep.id[:12], exc.message)

    async def endpoint_present(self, nw: Network, ep: Endpoint, netns_path: str) -> bool:
        """The host end of the veth exists."""
        return bool(ep.host_ifname) and await self._nl.link_exists(ep.host_ifname)

    def owned_link_names(self, nw: Network) -> set[str]:
        """The network's bridge and VXLAN device."""
        return {bridge_name(nw), vxlan_name(nw.id)}

    def inspect_extras(self, nw: Network, local_endpoints: int) -> dict:
        """Extra fields of a network inspect (InspectExtras): Docker's ``Peers``, and
        the pending removal, if any."""
        out = {"Peers": self.peers_view(nw, local_endpoints)}
        rm = self.removing.get(nw.id)
        if rm is not None:
            out["Removing"] = {"RequestedBy": rm.host, "Since": rm.since}
        return out

    def peers_view(self, nw: Network, local_count: int) -> list[dict]:
        """Docker's ``Peers`` of a network inspect, with endpoint counts per host."""
        out = [{"Name": self.hostname, "IP": self.advertise, "Endpoints": local_count}]
        for vtep, n in sorted(self.peers.vtep_counts(nw.id).items()):
            out.append({"Name": self.peers.hostnames.get(vtep, vtep), "IP": vtep, "Endpoints": n})
        return out


class DisabledOverlay(Driver, ClusterIpam):
    """Stands in for "overlay" on a single host: refuses with the way out."""

    name = "overlay"
    scope = "global"

    def validate_options(self, nw: Network) -> None:
        """Always refuses: there is no cluster store."""
        raise Unavailable("overlay networks need a cluster store: start boxnetd with "
                          "--cluster-store etcd://HOST:PORT --cluster-advertise ADDR")

    async def request_pools(self, nw: Network, configs: list, ipam, avoid) -> list:
        """Refuses: the pools live in the cluster store."""
        self.validate_options(nw)
        return []

    async def request_addresses(self, nw: Network, ep: Endpoint, st: EndpointSettings) -> None:
        """Refuses: the addresses live in the cluster store (a stored overlay network's
        container started without one)."""
        self.validate_options(nw)

    async def create_network(self, nw: Network, restoring: bool = False) -> None:
        """A stored overlay network cannot be restored without the cluster store."""
        raise Unavailable("overlay network without a cluster store (start boxnetd with "
                          "--cluster-store)")

    async def delete_network(self, nw: Network) -> None:
        """Nothing was made."""

    async def join(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Refuses."""
        self.validate_options(nw)

    async def leave(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Nothing was made."""
