"""The core's unit-test rig: ONE factory (`make_rig`) that builds and starts
a real Controller on in-memory fakes (core_fakes_net.py, core_fakes_host.py),
and `Rig.state()`, a snapshot of everything held anywhere.

The contracts the core tests pin (DESIGN.md, "Rules for every operation that
changes the kernel"): a create that fails at any step leaves `state()` as it
was; a delete goes on past a failed step and reports every failure in one
error; deleting what is already gone is success.  `Rig.consistent()` lists
where the controller's memory and its store disagree (one authoritative
object per id: they must never disagree after a call returns or raises).
"""

from __future__ import annotations

from boxnet.core.config import DaemonConfig
from boxnet.core.controller import Controller
from boxnet.core.eventfeed import EventFeed
from boxnet.core.events import LifecycleListener
from boxnet.drivers.host import HostDriver
from boxnet.drivers.null import NullDriver
from boxnet.drivers.registry import DriverRegistry
from boxnet.model import Container, ContainerConfig, Endpoint, EndpointSettings, Network

from core_fakes_host import FakeImages, FakeKernel, FakeListener, FakeNetlink, FakeRuntime
from core_fakes_net import Faults, FakeBridgeDriver, FakeFirewall, FakeIpam, FakeStore

__all__ = ["Rig", "make_rig", "Faults"]


class FakeNameService(FakeListener):
    """The DNS collaborator: a listener keeping a record per endpoint."""

    def changed(self) -> None:
        """Names may have changed."""
        self.faults.hit("dns.changed")

    async def close_all(self) -> None:
        """No resolver to close."""


class FakePorts(LifecycleListener):
    """The published-ports collaborator: no port is ever published here."""

    def bindings(self, container_id: str) -> list:
        """No host port held."""
        return []


class Rig:
    """A started Controller and every fake it was built on."""

    def __init__(self, tmp_path, monkeypatch, drivers=()):
        self.faults = Faults()
        self.anomalies: list[str] = []
        self.config = DaemonConfig(data_root=str(tmp_path / "data"),
                                   exec_root=str(tmp_path / "run"))
        self.kernel = FakeKernel(self.faults)
        self.kernel.install(monkeypatch)
        self.store = FakeStore(self.faults)
        self.ipam = FakeIpam(self.faults, self.anomalies)
        self.firewall = FakeFirewall(self.faults)
        self.driver = FakeBridgeDriver(self.faults, self.firewall, self.kernel.netns)
        self.netlink = FakeNetlink(self.faults, self.kernel)
        self.runtime = FakeRuntime(self.faults)
        self.images = FakeImages(self.faults, str(tmp_path / "rootfs"))
        self.dns = FakeNameService(self.faults)
        self.extra_drivers = [make(self) for make in drivers]
        self.ctl = _controller(self)
        self.dns.ctl = self.ctl

    # ---- helpers for tests -------------------------------------------
    async def network(self, name: str, **kw) -> Network:
        """A user-defined network of the fake bridge driver."""
        return await self.ctl.create_network(name, "bridge", **kw)

    async def container(self, name: str, *networks: str, **cfg) -> Container:
        """A created busybox container on `networks` (the first is its NetworkMode)."""
        cfg.setdefault("cmd", ["sleep", "1000"])
        config = ContainerConfig(image="busybox", network_mode=networks[0] if networks
                                 else "bridge", **cfg)
        eps = {n: EndpointSettings(network_id="") for n in networks}
        return await self.ctl.create_container(name, config, eps)

    async def run(self, name: str, *networks: str, **cfg) -> Container:
        """Create and start a container."""
        c = await self.container(name, *networks, **cfg)
        await self.ctl.start_container(c.id)
        return c

    async def exit(self, c: Container, code: int = 0) -> None:
        """The container's process exits; wait until the core has handled it."""
        fut = self.ctl.wait_future(c)
        await self.runtime.exit(c.id, code)
        await fut

    async def restart(self) -> None:
        """A daemon restart: a new Controller on the same store, kernel, driver
        and firewall objects; IPAM and listeners start empty (derived state)."""
        self.ipam = FakeIpam(self.faults, self.anomalies)
        self.dns = FakeNameService(self.faults)
        self.ctl = _controller(self)
        self.dns.ctl = self.ctl
        await self.ctl.start()

    # ---- what is held --------------------------------------------------
    def state(self) -> dict:
        """Everything any part holds, as comparable plain data."""
        ctl = self.ctl
        return {
            "ipam.pools": sorted(self.ipam.pools),
            "ipam.addresses": {s: sorted(a) for s, a in self.ipam.used.items() if a},
            "driver.bridges": sorted(self.driver.bridges),
            "driver.ports": dict(self.driver.ports),
            "firewall.networks": sorted(self.firewall.networks),
            "firewall.endpoints": sorted(self.firewall.endpoints),
            "store": {k: sorted(v) for k, v in self.store.rows.items()},
            "ctl.networks": sorted(ctl.networks),
            "ctl.net_by_name": sorted(ctl.net_by_name),
            "ctl.endpoints": sorted(ctl.endpoints),
            "ctl.eps_by_network": {k: sorted(v) for k, v in ctl.eps_by_network.items() if v},
            "ctl.eps_by_container": {k: sorted(v) for k, v in ctl.eps_by_container.items() if v},
            "ctl.containers": sorted(ctl.containers),
            "ctl.cont_by_name": sorted(ctl.cont_by_name),
            "container.networks": {c.id: sorted(c.networks) for c in ctl.containers.values()},
            "netns": sorted(self.kernel.netns),
            "routes": {p: dict(ns["routes"]) for p, ns in self.kernel.netns.items()},
            "runtime.running": sorted(k for k, v in self.runtime.state.items() if v == "running"),
            "runtime.prepared": sorted(k for k, v in self.runtime.state.items()
                                       if v == "prepared"),
            "dns.records": sorted(self.dns.records),
        }

    def consistent(self) -> list[str]:
        """Where memory and store disagree (empty when they agree)."""
        out = []
        for kind, live, typ in (("networks", self.ctl.networks, Network),
                                ("endpoints", self.ctl.endpoints, Endpoint),
                                ("containers", self.ctl.containers, Container)):
            stored = {o.id: o for o in self.store.load(kind, typ)}
            if set(stored) != set(live):
                out.append(f"{kind}: stored {sorted(stored)} != in memory {sorted(live)}")
        for c in self.ctl.containers.values():
            s = self.store.get("containers", c.id, Container)
            if s is not None and (sorted(s.networks), s.status) != (sorted(c.networks), c.status):
                out.append(f"container {c.name}: stored {sorted(s.networks)} {s.status}, "
                           f"in memory {sorted(c.networks)} {c.status}")
        for ep in self.ctl.endpoints.values():
            s = self.store.get("endpoints", ep.id, Endpoint)
            if s is not None and s != ep:
                out.append(f"endpoint {ep.id[:12]}: stored {s} != in memory {ep}")
        return out


def _controller(rig: Rig) -> Controller:
    """THE place that knows Controller's constructor: adapt here only."""
    drivers = DriverRegistry([rig.driver, HostDriver(), NullDriver(), *rig.extra_drivers])
    return Controller(rig.config, rig.store, rig.ipam, drivers, rig.firewall, rig.runtime,
                      rig.images, rig.netlink, host_id="f" * 64, dns=lambda ctl: rig.dns,
                      ports=lambda ctl: FakePorts(), event_feed=EventFeed())


async def make_rig(tmp_path, monkeypatch, drivers=()) -> Rig:
    """A Controller on fakes, started (predefined networks bridge, host, none).
    drivers: more drivers, each made by a callable given the rig."""
    rig = Rig(tmp_path, monkeypatch, drivers)
    await rig.ctl.start()
    return rig
