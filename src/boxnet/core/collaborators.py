"""The controller's declared collaborators that live beside the core.

The Controller (core/controller.py) is handed every collaborator it or the
API uses; nothing attaches one to it later.  Those of the core's own layers
(store, IPAM, drivers, firewall, runtime, images, netlink) have their own
interface modules; the features below are written elsewhere (dns/, core/ports.py,
drivers/overlay/) and are typed here by what the core and the API ask of
them.  Each is also a lifecycle listener (core/events.py): the controller
registers it on its event bus, in a fixed order, when it is built.

DNS and published ports need the controller themselves (its networks,
endpoints and containers): the controller takes a factory for each and
calls it with itself (two-phase wiring without attribute assignment).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

from .events import LifecycleListener

if TYPE_CHECKING:
    from ..model import Container, Endpoint
    from .controller import Controller
    from .portalloc import HostBinding


@runtime_checkable
class NameService(LifecycleListener, Protocol):
    """The embedded DNS (dns/service.py: DnsService)."""

    def changed(self) -> None:
        """Names may have changed: rebuild the name table before the next answer."""

    async def close_all(self) -> None:
        """Close every resolver (daemon shutdown)."""


@runtime_checkable
class PortService(LifecycleListener, Protocol):
    """Published ports (core/ports.py: PortMapper)."""

    def bindings(self, container_id: str) -> list[HostBinding]:
        """The host ports held for a running container."""


@runtime_checkable
class ClusterAgent(Protocol):
    """This host's membership of the overlay cluster (drivers/overlay/cluster.py)."""

    healthy: bool

    async def start(self, ctl: Controller) -> None:
        """After the controller restored its state: resync and follow the cluster store."""

    async def stop(self) -> None:
        """Stop following the store (daemon shutdown)."""

    def remote_endpoints(self) -> tuple[list[Endpoint], dict[str, Container]]:
        """Other hosts' endpoints on global networks, and stand-in containers by id."""


NameServiceFactory = Callable[["Controller"], NameService]
PortServiceFactory = Callable[["Controller"], PortService]
