"""The Controller: exactly one authoritative object per id, and the story
create network -> create endpoint -> create sandbox -> join.

Operations live in mixins (networks, endpoints, containers, execs,
reconcile), each in its own file; this file holds the shared state.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from ..drivers.registry import DriverRegistry
from ..ipam.api import Ipam
from ..model import Container, Endpoint, Network
from ..store.api import Store
from . import names
from .config import DaemonConfig
from .containers import ContainerOps
from .events import EventBus
from .endpoints import EndpointOps
from .execs import ExecOps
from .networks import NetworkOps
from .reconcile import ReconcileOps

log = logging.getLogger(__name__)


class Controller(NetworkOps, EndpointOps, ContainerOps, ExecOps, ReconcileOps):
    """Owns networks, endpoints, sandboxes and containers of one daemon."""

    def __init__(self, config: DaemonConfig, store: Store, ipam: Ipam,
                 drivers: DriverRegistry, firewall, runtime, images, netlink):
        self.config = config
        self.store = store
        self.ipam = ipam
        self.drivers = drivers
        self.firewall = firewall
        self.runtime = runtime
        self.images = images
        self.nl = netlink
        self.networks: dict[str, Network] = {}
        self.net_by_name: dict[str, Network] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.eps_by_container: dict[str, dict[str, Endpoint]] = collections.defaultdict(dict)
        self.eps_by_network: dict[str, dict[str, Endpoint]] = collections.defaultdict(dict)
        self.containers: dict[str, Container] = {}
        self.cont_by_name: dict[str, Container] = {}
        self.netlock = asyncio.Lock()
        self._clocks: dict[str, asyncio.Lock] = {}
        self.default_routes: dict[str, tuple] = {}   # see EndpointOps.after_endpoints_changed
        self._waiters: dict[str, list[asyncio.Future]] = collections.defaultdict(list)
        self.execs: dict = {}
        self.events = EventBus()
        self.start_time = ""

    # ---- lookups -------------------------------------------------------
    def network(self, ref: str) -> Network:
        """A network by name, id or unique id prefix (NotFound otherwise)."""
        return names.lookup(self.networks, ref, "network", self.net_by_name)

    def container(self, ref: str) -> Container:
        """A container by name, id or unique id prefix (NotFound otherwise)."""
        return names.lookup(self.containers, ref, "container", self.cont_by_name)

    def clock(self, container_id: str) -> asyncio.Lock:
        """The per-container lock serialising its lifecycle and attachments."""
        lock = self._clocks.get(container_id)
        if lock is None:
            lock = self._clocks[container_id] = asyncio.Lock()
        return lock

    # ---- state bookkeeping --------------------------------------------
    def _index_network(self, nw: Network) -> None:
        self.networks[nw.id] = nw
        self.net_by_name[nw.name] = nw

    def _unindex_network(self, nw: Network) -> None:
        self.networks.pop(nw.id, None)
        self.net_by_name.pop(nw.name, None)

    def _index_endpoint(self, ep: Endpoint) -> None:
        self.endpoints[ep.id] = ep
        self.eps_by_container[ep.container_id][ep.network_id] = ep
        self.eps_by_network[ep.network_id][ep.id] = ep

    def _unindex_endpoint(self, ep: Endpoint) -> None:
        self.endpoints.pop(ep.id, None)
        self.eps_by_container.get(ep.container_id, {}).pop(ep.network_id, None)
        self.eps_by_network.get(ep.network_id, {}).pop(ep.id, None)

    def _index_container(self, c: Container) -> None:
        self.containers[c.id] = c
        self.cont_by_name[c.name] = c

    def _unindex_container(self, c: Container) -> None:
        self.containers.pop(c.id, None)
        self.cont_by_name.pop(c.name, None)
        self.eps_by_container.pop(c.id, None)
        self._clocks.pop(c.id, None)
        self.default_routes.pop(c.id, None)

    def save_container(self, c: Container) -> None:
        """Commit a container's state."""
        self.store.put("containers", c.id, c)

    def container_endpoints(self, container_id: str) -> list[Endpoint]:
        """The container's endpoints in interface order (eth0 first)."""
        eps = list(self.eps_by_container.get(container_id, {}).values())
        eps.sort(key=lambda e: int(e.ifname[3:]) if e.ifname[3:].isdigit() else 999)
        return eps
