"""LanDriver: the driver logic macvlan and ipvlan share (Driver interface).

A network claims a parent (parents.py); each endpoint is one link of the
driver's kind on that parent, living in the container netns as ethN with the
address IPAM gave it. No firewall rules (as Docker): the LAN's own firewall
applies. Subclasses say how options map to the kernel's mode and flags, which
claims conflict, and may add host-side work (macvlan's host shim).

With the "dhcp" IPAM driver (ipam/dhcp.py) the link is made without an address
and the daemon's LeaseKeeper (dhcp/leases.py) leases one from the LAN's DHCP
server through it; network inspect shows the leases (BoxnetDhcpLeases).
"""

from __future__ import annotations

import abc

from ...errors import BoxnetError, InvalidParameter, NotImplementedFeature
from ...kernel import features
from ...model import Endpoint, Network
from ...dhcp import wire
from ...ipam import dhcp as dhcp_ipam
from ..api import DhcpLeases, Driver, InspectExtras
from ..bridge.egress import refuse_bridge_only
from .parents import Claim, LanParents, ParentSpec, parent_spec


class LanDriver(Driver, DhcpLeases, InspectExtras):
    """Base of MacvlanDriver and IpvlanDriver."""

    #: link kind (macvlan|ipvlan)
    kind = ""
    #: driver options this driver understands (besides parent)
    option_keys: tuple[str, ...] = ()
    #: whether the links all carry the parent's MAC (ipvlan): the DHCP client id is
    #: then made from the endpoint id instead of the MAC
    shares_parent_mac = False

    def __init__(self, parents: LanParents, leases=None):
        self._parents = parents
        self._links = parents.links
        self._leases = leases   # dhcp/leases.py LeaseKeeper, None: no dhcp networks

    # --- what subclasses must define --------------------------------------------------
    @abc.abstractmethod
    def modes(self, nw: Network) -> tuple[str, str]:
        """(mode, flag) from the options, validated."""

    @abc.abstractmethod
    def kernel_mode(self, mode: str, flag: str) -> tuple[int, int]:
        """The kernel's numbers for (mode, flag)."""

    @abc.abstractmethod
    def conflict(self, claim: Claim, other: Claim) -> str | None:
        """Why `claim` cannot share a parent with `other` (same driver), or None."""

    @abc.abstractmethod
    def validate_extra(self, nw: Network, spec: ParentSpec, mode: str) -> None:
        """Driver-specific checks of the options (raise InvalidParameter)."""

    # --- host-side extras subclasses may add (none by default) ---------------------------

    async def network_created(self, nw: Network, spec: ParentSpec, restoring: bool) -> None:
        """Host-side extras after the parent is acquired (undone by network_deleting)."""

    async def network_deleting(self, nw: Network) -> None:
        """Remove the host-side extras; no error if already gone."""

    async def joined(self, nw: Network, ep: Endpoint) -> None:
        """Host-side extras of an endpoint (undone by leaving)."""

    async def leaving(self, nw: Network, ep: Endpoint) -> None:
        """Remove an endpoint's host-side extras; no error if already gone."""

    async def extras_present(self, nw: Network, ep: Endpoint) -> bool:
        """Whether an endpoint's host-side extras exist."""
        return True

    # --- the Driver interface -----------------------------------------------------------
    def _claim(self, nw: Network) -> Claim:
        mode, flag = self.modes(nw)
        return Claim(network_id=nw.id, network_name=nw.name, driver=self.name, mode=mode,
                     flag=flag)

    def validate_options(self, nw: Network) -> None:
        """Options, kernel support and conflicts with other networks, before any
        address or kernel object is taken."""
        for key in nw.options:
            if key.startswith("boxnet.") and key not in self.option_keys:
                raise InvalidParameter(f"unknown option {key} for the {self.name} driver "
                                       f"(known: parent, {', '.join(self.option_keys)})")
        refuse_bridge_only(nw, self.name)
        spec = parent_spec(nw)
        claim = self._claim(nw)
        self.validate_extra(nw, spec, claim.mode)
        if spec.dummy and dhcp_ipam.uses_dhcp(nw.ipam_driver):
            raise InvalidParameter("the dhcp IPAM driver needs a parent interface on a LAN "
                                   "(-o parent=...): an internal network has no DHCP server")
        if not features.probe(self.kind):
            raise NotImplementedFeature(f"cannot create a {self.name} network: "
                                        f"{features.missing_reason(self.kind)}")
        self._parents.check(spec, claim, self.conflict)

    async def create_network(self, nw: Network, restoring: bool = False) -> None:
        """Acquire the parent (check it, create an 802.1q/dummy parent if needed), try a
        throwaway link on it, then the driver's extras; all undone on failure."""
        spec = parent_spec(nw)
        claim = self._claim(nw)
        if restoring:
            self._parents.check(spec, claim, self.conflict)
        await self._parents.acquire(spec, claim, restoring)
        try:
            if not restoring and claim.mode != "passthru":
                mode, flags = self.kernel_mode(claim.mode, claim.flag)
                await self._links.try_parent(self.kind, spec.name, mode=mode, flags=flags)
            await self.network_created(nw, spec, restoring)
        except BaseException:
            await self._parents.release(spec, nw.id)
            raise

    async def delete_network(self, nw: Network) -> None:
        """Extras first, then the claim (and a parent boxnet made, when last)."""
        errors = []
        try:
            await self.network_deleting(nw)
        except BoxnetError as exc:
            errors.append(exc.message)
        try:
            await self._parents.release(parent_spec(nw), nw.id)
        except BoxnetError as exc:
            errors.append(exc.message)
        if errors:
            raise BoxnetError("; ".join(errors))

    async def join(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """One link on the parent, made inside the sandbox as ep.ifname; sets ep.mac."""
        spec = parent_spec(nw)
        claim = self._claim(nw)
        mode, flags = self.kernel_mode(claim.mode, claim.flag)
        addrs = [a for a in (ep.ipv4, ep.ipv6) if a]
        ep.mac = await self._links.attach(self.kind, spec.name, netns_path, ep.ifname,
                                          mode=mode, flags=flags, mac=ep.mac or None,
                                          addrs=addrs)
        try:
            if dhcp_ipam.uses_dhcp(nw.ipam_driver):
                await self._lease(nw, ep, netns_path)
            if spec.dummy:
                # Internal-only: the dummy parent leads nowhere, so no default route (Docker).
                ep.gateway4 = ep.gateway6 = ""
            await self.joined(nw, ep)
        except BaseException:
            if dhcp_ipam.uses_dhcp(nw.ipam_driver) and self._leases is not None:
                await self._leases.release(ep.id)
            await self._links.detach(netns_path, ep.ifname)
            raise

    async def _lease(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """The endpoint's address and gateway from the LAN's DHCP server."""
        if self._leases is None:
            raise NotImplementedFeature("this daemon was built without DHCP leases")
        cid = wire.endpoint_client_id(ep.id) if self.shares_parent_mac else None
        lease = await self._leases.acquire(nw.id, ep.id, netns_path, ep.ifname, ep.mac,
                                           client_id=cid)
        ep.ipv4, ep.gateway4, ep.dns_servers = lease.address, lease.router, list(lease.dns)

    def inspect_extras(self, nw: Network, local_endpoints: int) -> dict:
        """A dhcp network's leases: endpoint id -> address, server, times (boxnet's own)."""
        if not dhcp_ipam.uses_dhcp(nw.ipam_driver) or self._leases is None:
            return {}
        return {"BoxnetDhcpLeases": {
            ep_id: {"Address": l.address, "Server": l.server, "Router": l.router,
                    "DNS": list(l.dns), "LeaseTime": l.lease_time, "T1": l.t1, "T2": l.t2,
                    "Acquired": int(l.acquired), "Expires": int(l.expires_at()),
                    "Renewals": l.renewals}
            for ep_id, l in self._leases.leases_of(nw.id).items()}}

    async def leave(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Extras, then the link in the sandbox (gone already if the sandbox is)."""
        errors = []
        try:
            await self.leaving(nw, ep)
        except BoxnetError as exc:
            errors.append(exc.message)
        if dhcp_ipam.uses_dhcp(nw.ipam_driver) and self._leases is not None:
            await self._leases.release(ep.id)   # DHCPRELEASE while the link still exists
        if ep.ifname and netns_path:
            try:
                await self._links.detach(netns_path, ep.ifname)
            except BoxnetError as exc:
                errors.append(exc.message)
        if errors:
            raise BoxnetError("; ".join(errors))

    async def endpoint_present(self, nw: Network, ep: Endpoint, netns_path: str) -> bool:
        """The sandbox holds ep.ifname of our kind, and the extras exist."""
        return bool(ep.ifname) and await self._links.present(netns_path, ep.ifname, self.kind) \
            and await self.extras_present(nw, ep)
