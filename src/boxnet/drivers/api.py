"""The driver interface every network driver implements (DESIGN.md), and the
optional abilities a driver may have.

A driver owns the kernel objects of its networks and endpoints; the core
owns the state.  Each method is idempotent or undoes its own partial work
before raising, so the core can roll back a failed operation.

Optional abilities are small interfaces of their own, as libnetwork's driverapi
has them: a driver declares one by inheriting it, and the core asks
``isinstance(driver, Ability)`` (or ``DriverRegistry.ability``), never
``getattr`` or the driver's name:

- ``ClusterIpam``: pools and addresses are claimed in the cluster store (overlay);
- ``FastLeave``: a leave right before the netns goes can skip the link deletion;
- ``InspectExtras``: more fields in a network inspect;
- ``PublishesPorts``: endpoints are the DNAT targets of published ports, and
  carry the firewall's anti-spoofing elements (bridge);
- ``DhcpLeases``: endpoint addresses are leased from the LAN's DHCP server (macvlan, ipvlan);
- ``HostStack``: the container shares the host's network stack (host);
- ``NoNetwork``: the container has loopback only, alone (null, the `none` network);
- ``HandsOffLinks``: an endpoint's interface can be handed to another engine by name
  (the Docker plugin's Join: the peer stays in boxnetd's netns, Docker moves it);
- ``KeepsSpares``: such a hand-off can take a pair made ahead of time (core/spares.py);
- ``DockerIpam``: the Docker plugin's IPAM calls are served from the cluster store
  (the overlay behind ``boxnet-overlay``: drivers/overlay/handoff.py).
"""

from __future__ import annotations

import abc

import msgspec

from ..model import Endpoint, EndpointSettings, IpamPool, Network


class Driver(abc.ABC):
    """A network driver: create/delete network, join/leave endpoints."""

    name: str = ""
    #: "local" or "global"
    scope: str = "local"
    #: whether networks of this driver get IPAM pools and endpoint addresses
    uses_ipam: bool = True
    #: whether a container joining this driver's network gets its own netns
    needs_sandbox: bool = True
    #: whether the user may create networks of this driver
    user_creatable: bool = True

    def validate_options(self, nw: Network) -> None:
        """Raise InvalidParameter for options this driver cannot honour."""

    @abc.abstractmethod
    async def create_network(self, nw: Network, restoring: bool = False) -> None:
        """Create the network's kernel objects; `restoring` (daemon start)
        re-creates them idempotently, adopting what already exists."""

    @abc.abstractmethod
    async def delete_network(self, nw: Network) -> bool | None:
        """Remove the network's kernel objects (no error if already gone).
        A truthy return means the removal is deferred (a global network still
        used on other hosts): the core keeps the network, the driver removes it later."""

    @abc.abstractmethod
    async def join(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Plumb the endpoint into the sandbox netns; may fill ep.mac/host_ifname.
        A join that fails undoes its own steps: the core calls leave only after a
        join that succeeded (a leave could remove what the join did not create)."""

    @abc.abstractmethod
    async def leave(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Remove the endpoint's kernel objects (no error if already gone)."""

    async def endpoint_present(self, nw: Network, ep: Endpoint, netns_path: str) -> bool:
        """Whether the endpoint's kernel objects exist (used by reconcile)."""
        return True

    def owned_link_names(self, nw: Network) -> set[str]:
        """Host-side link names this network owns (bridges), for reconcile."""
        return set()


class NoopDriver(Driver):
    """Base of drivers with no kernel objects of their own (host, none)."""

    uses_ipam = False
    user_creatable = False

    async def create_network(self, nw: Network, restoring: bool = False) -> None:
        """Nothing to create."""

    async def delete_network(self, nw: Network) -> None:
        """Nothing to delete."""

    async def join(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Nothing to plumb."""

    async def leave(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Nothing to remove."""


# ---- optional abilities ---------------------------------------------------------------
class ClusterIpam(abc.ABC):
    """The driver's networks take their pools and endpoint addresses from the
    cluster store (global IPAM) instead of the daemon's local IPAM."""

    @abc.abstractmethod
    async def request_pools(self, nw: Network, configs: list, ipam, avoid) -> list[IpamPool]:
        """Claim the network's pools (one per family in use); all or none."""

    @abc.abstractmethod
    async def request_addresses(self, nw: Network, ep: Endpoint, st: EndpointSettings) -> None:
        """Claim the endpoint's addresses (fills ep.ipv4/ep.ipv6 and gateways)."""


class FastLeave(abc.ABC):
    """A leave right before the sandbox's netns is released can make the endpoint
    inert at once and let its kernel objects die with the netns."""

    @abc.abstractmethod
    async def leave_released(self, nw: Network, ep: Endpoint) -> None:
        """Leave of an endpoint whose netns goes next: inert now, deleted with the netns."""


class InspectExtras(abc.ABC):
    """The driver adds fields to a network inspect (with its containers)."""

    @abc.abstractmethod
    def inspect_extras(self, nw: Network, local_endpoints: int) -> dict:
        """Extra top-level fields; ``local_endpoints``: the endpoints on this host."""


class PublishesPorts(abc.ABC):
    """Endpoints of the driver's networks are the DNAT targets of published ports,
    and carry the firewall's per-endpoint anti-spoofing elements."""

    @abc.abstractmethod
    def gateway_mode(self, nw: Network, family: int) -> str:
        """How the network's gateway treats ``family`` (4|6): nat, nat-unprotected,
        routed or isolated."""

    @abc.abstractmethod
    async def restore_endpoint(self, nw: Network, ep: Endpoint) -> None:
        """At daemon start: re-add a re-adopted endpoint's firewall elements."""


class DhcpLeases:
    """Marker: the driver's networks may use the "dhcp" IPAM driver (ipam/dhcp.py):
    no pools; its join leases each endpoint's address from the LAN's DHCP server
    (filling ep.ipv4 and ep.gateway4) and its leave releases the lease."""


class HostStack:
    """Marker: a container on this driver's network shares the host's network
    stack (no netns of its own, no endpoint plumbing, no port publishing)."""


class NoNetwork:
    """Marker: a container on this driver's network has a netns with loopback only,
    and may be on no other network."""


class HandsOffLinks(abc.ABC):
    """The driver can plumb an endpoint whose sandbox another engine owns: the
    container end is left in the daemon's own netns under a given name, for that
    engine to move into its sandbox (libnetwork's remote Join, plugin/)."""

    @abc.abstractmethod
    async def join_handoff(self, nw: Network, ep: Endpoint, peer_name: str) -> None:
        """Create the pair, host end on the network, peer ``peer_name`` here; undoes itself."""

    @abc.abstractmethod
    async def leave_handoff(self, nw: Network, ep: Endpoint) -> None:
        """Remove what join_handoff made, wherever the peer went (no error if gone)."""


# The endpoint's driver option naming the peer a hand-off left for the other engine
# (a spare's own name, or the one join_handoff was given).
HANDOFF_PEER_OPT = "com.boxnet.plugin.peer"


class SpareLink(msgspec.Struct, frozen=True):
    """A spare pair made ahead of a hand-off: its host end and its peer."""

    host: str
    peer: str


class KeepsSpares(abc.ABC):
    """The driver can make a hand-off's pair ahead of time, off the request path
    (one spare per network, core/spares.py), so a Join only takes it."""

    @abc.abstractmethod
    async def make_spare(self, nw: Network) -> SpareLink:
        """A new spare on ``nw``, inert until taken; undoes itself on failure."""

    @abc.abstractmethod
    async def take_spare(self, nw: Network, ep: Endpoint, spare: SpareLink) -> None:
        """What join_handoff does, from ``spare`` (its peer is the one handed over);
        on failure the spare is gone and nothing of the endpoint is left."""

    @abc.abstractmethod
    async def drop_spare(self, nw: Network, spare: SpareLink) -> None:
        """Delete an unused spare (no error if it is gone)."""


class DockerIpam(abc.ABC):
    """Docker's remote IPAM for the driver's networks is the cluster's: pools and
    addresses are claimed where the driver claims its own (plugin/overlay.py)."""

    @abc.abstractmethod
    async def docker_pool(self, subnet: str, local_nets) -> str:
        """The subnet RequestPool grants (``subnet`` checked, or a free one)."""

    @abc.abstractmethod
    async def docker_claim(self, nw: Network, address: str) -> str:
        """Claim one address ("ip/prefix") before Docker's endpoint exists."""

    @abc.abstractmethod
    async def bind_claims(self, nw: Network, ep: Endpoint) -> None:
        """Bind the claims of ``ep``'s addresses to ``ep`` (CreateEndpoint)."""

    @abc.abstractmethod
    async def docker_release(self, nw: Network, address: str) -> None:
        """Give an address back (no error if gone)."""

    @abc.abstractmethod
    async def docker_users(self, nw: Network, docker_id: str, add: bool) -> int:
        """Count this host's Docker network on or off ``nw``; how many remain."""
