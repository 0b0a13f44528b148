"""The driver interface every network driver implements (DESIGN.md).

A driver owns the kernel objects of its networks and endpoints; the core
owns the state.  Each method is idempotent or undoes its own partial work
before raising, so the core can roll back a failed operation.
"""

from __future__ import annotations

import abc

from ..model import Endpoint, Network


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
        """Plumb the endpoint into the sandbox netns; may fill ep.mac/host_ifname."""

    @abc.abstractmethod
    async def leave(self, nw: Network, ep: Endpoint, netns_path: str) -> None:
        """Remove the endpoint's kernel objects (no error if already gone)."""

    async def endpoint_present(self, nw: Network, ep: Endpoint, netns_path: str) -> bool:
        """Whether the endpoint's kernel objects exist (used by reconcile)."""
        return True

    def owned_link_names(self, nw: Network) -> set[str]:
        """Host-side link names this network owns (bridges), for reconcile."""
        return set()

    def gateway_iface(self, nw: Network) -> str | None:
        """Name of the host-side device carrying the network's gateway."""
        return None


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
