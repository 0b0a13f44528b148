"""MacvlanDriver: each container is its own device on the LAN, with its own MAC.

Options (Docker's): `parent=IFACE` (or `IFACE.VLAN`), `macvlan_mode=bridge|private|
vepa|passthru` (default bridge). Beyond Docker: `boxnet.host_access=true`.

The host cannot reach its own macvlan containers: the kernel does not hand a
frame sent by the parent to the parent's macvlan children. With
`boxnet.host_access=true` boxnet adds a host-side macvlan (bridge mode) on the
same parent, `bxs<id12>`, and routes each container's address (/32, /128)
through it; the host, and so every process on it, then reaches the containers
directly, bypassing the LAN (and its firewall).
"""

from __future__ import annotations

import ipaddress

from ...errors import InvalidParameter
from ...kernel.links import ALIAS_PREFIX, MACVLAN_MODES
from ...model import Endpoint, Network
from .base import LanDriver
from .options import OPT_HOST_ACCESS, bool_opt, choice, subnet_of
from .parents import Claim, ParentSpec

OPT_MODE = "macvlan_mode"


def shim_name(nw: Network) -> str:
    """The host-side shim link of a host_access network."""
    return "bxs" + nw.id[:12]


def shim_kind(nw: Network) -> str:
    """The kind of the ownership mark of a network's shim (kernel/linkmark.py)."""
    return f"shim:{nw.id[:12]}"


def legacy_shim_alias(nw: Network) -> str:
    """The shim's mark before marks named their daemon (it names this network's id)."""
    return f"{ALIAS_PREFIX}shim:{nw.id[:12]}"


class MacvlanDriver(LanDriver):
    """Docker's macvlan driver."""

    name = "macvlan"
    kind = "macvlan"
    option_keys = (OPT_HOST_ACCESS,)

    def modes(self, nw: Network) -> tuple[str, str]:
        """macvlan_mode, default bridge; no flag."""
        return choice(nw, OPT_MODE, MACVLAN_MODES, "bridge"), ""

    def kernel_mode(self, mode: str, flag: str) -> tuple[int, int]:
        """The kernel's MACVLAN_MODE_* value."""
        return MACVLAN_MODES[mode], 0

    def conflict(self, claim: Claim, other: Claim) -> str | None:
        """passthru takes a parent for one network alone (as Docker)."""
        if claim.mode == "passthru":
            return (f"cannot use mode passthru, macvlan network {other.network_name} is "
                    f"already using the parent interface")
        if other.mode == "passthru":
            return (f"macvlan network {other.network_name} is already using the parent "
                    f"interface in mode passthru")
        return None

    def validate_extra(self, nw: Network, spec: ParentSpec, mode: str) -> None:
        """host_access needs a real parent and bridge mode (the shim is a bridge-mode
        sibling: private/vepa/passthru links never talk to it)."""
        if bool_opt(nw, OPT_HOST_ACCESS):
            if spec.dummy:
                raise InvalidParameter(f"{OPT_HOST_ACCESS} needs a parent interface "
                                       "(-o parent=...) and a network that is not internal")
            if mode != "bridge":
                raise InvalidParameter(f"{OPT_HOST_ACCESS} needs macvlan_mode=bridge (the "
                                       f"host shim cannot reach {mode} mode links)")

    async def network_created(self, nw: Network, spec: ParentSpec, restoring: bool) -> None:
        """The host shim, if asked for."""
        if bool_opt(nw, OPT_HOST_ACCESS):
            await self._links.ensure_shim(shim_name(nw), spec.name,
                                          self._links.mark(shim_kind(nw)), legacy_shim_alias(nw))

    async def network_deleting(self, nw: Network) -> None:
        """Remove the shim (its routes go with it)."""
        if bool_opt(nw, OPT_HOST_ACCESS):
            await self._links.delete_if_owned(shim_name(nw), self._links.mark(shim_kind(nw)),
                                              legacy_shim_alias(nw))

    def _shim_targets(self, nw: Network, ep: Endpoint) -> list[str]:
        if not bool_opt(nw, OPT_HOST_ACCESS):
            return []
        return [str(ipaddress.ip_interface(a).ip) for a in (ep.ipv4, ep.ipv6) if a]

    async def joined(self, nw: Network, ep: Endpoint) -> None:
        """Route the endpoint's addresses through the shim, sourced from the host's own
        address in that subnet when it has one (so replies stay on the LAN segment)."""
        done = []
        try:
            for cidr in (ep.ipv4, ep.ipv6):
                if not cidr or not bool_opt(nw, OPT_HOST_ACCESS):
                    continue
                subnet = subnet_of(nw, cidr)
                src = await self._links.host_address_in(subnet) if subnet else None
                ip = str(ipaddress.ip_interface(cidr).ip)
                await self._links.route_host(ip, shim_name(nw), src)
                done.append(ip)
        except BaseException:
            for ip in done:
                await self._links.unroute_host(ip, shim_name(nw))
            raise

    async def leaving(self, nw: Network, ep: Endpoint) -> None:
        """Remove the endpoint's shim routes."""
        for ip in self._shim_targets(nw, ep):
            await self._links.unroute_host(ip, shim_name(nw))

    async def extras_present(self, nw: Network, ep: Endpoint) -> bool:
        """Every shim route of the endpoint exists."""
        for ip in self._shim_targets(nw, ep):
            if not await self._links.has_route(ip, shim_name(nw)):
                return False
        return True

