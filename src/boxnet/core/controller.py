"""The Controller: exactly one authoritative object per id, and the story
create network -> create endpoint -> create sandbox -> join.

Operations live in mixins (networks, endpoints, containers, execs,
reconcile), each in its own file; this file holds the shared state.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, Coroutine

from ..drivers.registry import DriverRegistry
from ..errors import BoxnetError
from ..ipam.api import Ipam
from ..model import Container, Endpoint, Network
from ..store.api import Store
from . import names
from .collaborators import ClusterAgent, NameServiceFactory, PortServiceFactory
from .config import DaemonConfig
from .eventfeed import EventFeed
from .cniops import CniOps
from .containers import ContainerOps
from .events import EventBus
from .endpoints import EndpointOps
from .execs import ExecOps
from .external import ExternalOps
from .mounts import VolumeOps
from .healthmon import HealthMonitor
from .networks import NetworkOps
from .policykeeper import PolicyKeeper
from .reconcile import ReconcileOps
from .resources import ResourceOps

if TYPE_CHECKING:
    from ..firewall.api import Firewall
    from ..kernel.netlink import Netlink
    from ..runtime.api import Runtime
    from ..registry.service import RegistryService
    from ..runtime.images import ImageStore
    from ..volumes.store import VolumeStore

log = logging.getLogger(__name__)


class Controller(NetworkOps, EndpointOps, ContainerOps, ExecOps, ReconcileOps, VolumeOps,
                 ResourceOps, ExternalOps, CniOps):
    """Owns networks, endpoints, sandboxes and containers of one daemon."""

    def __init__(self, config: DaemonConfig, store: Store, ipam: Ipam,
                 drivers: DriverRegistry, firewall: Firewall, runtime: Runtime,
                 images: ImageStore, netlink: Netlink, *, host_id: str,
                 dns: NameServiceFactory, ports: PortServiceFactory,
                 event_feed: EventFeed, cluster: ClusterAgent | None = None,
                 volumes: VolumeStore | None = None,
                 registry: RegistryService | None = None):
        """Every collaborator is given here (docs/architecture.md lists them).

        host_id: this daemon's engine ID (`/info` ID).  dns, ports: factories
        called with the controller.  cluster: the overlay cluster agent when
        the daemon has a cluster store.  volumes: the local volume driver's
        store (core/mounts.py uses it).  The embedded DNS, published ports,
        the event feed and the healthchecks listen on the event bus, in that order."""
        self.config = config
        self.store = store
        self.ipam = ipam
        self.drivers = drivers
        self.firewall = firewall
        self.runtime = runtime
        self.images = images
        self.nl = netlink
        self.host_id = host_id
        self.cluster = cluster
        self.volumes = volumes   # the local volume driver (volumes/store.py); None: no volumes
        self.registry = registry  # pull, push, login (registry/service.py); None: no registries
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
        self._removal_waiters: dict[str, list[asyncio.Future]] = collections.defaultdict(list)
        self._tasks: set[asyncio.Task] = set()
        self._prepared_joins: dict[str, asyncio.Task] = {}   # core/external.py
        self._spares: dict[str, object] = {}   # network id -> spare or its task (core/spares.py)
        self._closed = False
        self.execs: dict = {}
        self._exec_consoles: dict = {}   # exec id -> Console of a running `exec -t`
        self.events = EventBus()
        self.start_time = ""
        self.dns = dns(self)
        self.ports = ports(self)
        self.event_feed = event_feed
        self.health = HealthMonitor(self)   # the daemon's healthchecks (core/healthmon.py)
        self.policy = PolicyKeeper(self)    # least-privilege policy sets (core/policykeeper.py)
        for listener in (self.dns, self.ports, self.event_feed, self.health, self.policy):
            self.events.add(listener)

    # ---- background work -----------------------------------------------
    def spawn(self, coro: Coroutine, what: str) -> asyncio.Task:
        """Run `coro` in the background, kept (a task nobody holds can be
        garbage-collected mid-flight) and cancelled by close(); its failure
        is logged with `what`.  After close() the task is cancelled before it
        runs (an exit reported during shutdown is handled at the next start)."""
        task = asyncio.get_running_loop().create_task(coro)
        if self._closed:
            task.cancel()
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, what))
        return task

    def _task_done(self, task: asyncio.Task, what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("background %s failed: %s", what, getattr(exc, "message", exc),
                      exc_info=exc if not isinstance(exc, BoxnetError) else None)

    @property
    def background_tasks(self) -> int:
        """Background tasks still running."""
        return len(self._tasks)

    async def close(self) -> None:
        """Daemon shutdown: cancel the background tasks, close the resolvers.
        Containers keep running (the next start re-adopts them)."""
        self._closed = True
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.dns.close_all()

    def remote_endpoints(self) -> tuple[list[Endpoint], dict[str, Container]]:
        """Other hosts' endpoints known through the cluster (none without one),
        and stand-in containers by id, for the DNS name table."""
        if self.cluster is None:
            return [], {}
        return self.cluster.remote_endpoints()

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
    def index_network(self, nw: Network) -> None:
        """Show a network learnt from elsewhere (a global network of the
        overlay cluster); the caller stored it and holds `netlock`."""
        self._index_network(nw)

    def unindex_network(self, nw: Network) -> None:
        """Forget a network removed elsewhere (see index_network)."""
        self._unindex_network(nw)

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
        for fut in self._removal_waiters.pop(c.id, []):   # see removed_future
            if not fut.done():
                fut.set_result(c.exit_code)

    def save_container(self, c: Container) -> None:
        """Commit a container's state."""
        self.store.put("containers", c.id, c)

    def container_endpoints(self, container_id: str) -> list[Endpoint]:
        """The container's endpoints in interface order (eth0 first)."""
        eps = list(self.eps_by_container.get(container_id, {}).values())
        eps.sort(key=lambda e: int(e.ifname[3:]) if e.ifname[3:].isdigit() else 999)
        return eps
