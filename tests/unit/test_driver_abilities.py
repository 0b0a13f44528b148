"""Optional driver abilities (drivers/api.py) and the lifecycle-listener Protocol
(core/events.py): which driver declares what, how the core finds them, and how
events reach listeners.  What the abilities do on the real kernel is proven by
the integration tests of each driver (ports, overlay inspect, host and none)."""

import asyncio
import pathlib
import re

import pytest

from boxnet.core.events import EVENTS, EventBus, LifecycleListener
from boxnet.drivers.api import (ClusterIpam, DhcpLeases, FastLeave, HostStack, InspectExtras,
                                NoNetwork, PublishesPorts)
from boxnet.drivers.bridge import BridgeDriver
from boxnet.drivers.host import HostDriver
from boxnet.drivers.lan import IpvlanDriver, MacvlanDriver
from boxnet.drivers.lan.parents import LanParents
from boxnet.drivers.null import NullDriver
from boxnet.drivers.overlay import DisabledOverlay, OverlayDriver
from boxnet.drivers.overlay.allocator import GlobalIpam
from boxnet.drivers.overlay import records as R
from boxnet.drivers.registry import DriverRegistry
from boxnet.errors import Unavailable
from boxnet.model import Endpoint, EndpointSettings, Network

ABILITIES = (ClusterIpam, DhcpLeases, FastLeave, InspectExtras, PublishesPorts, HostStack,
             NoNetwork)
SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "boxnet"


def _drivers():
    parents = LanParents(links=None)
    overlay = OverlayDriver(None, None, None, GlobalIpam(None, "192.0.2.1"), "192.0.2.1",
                            4789, 1500)
    return {"bridge": BridgeDriver(None, None), "host": HostDriver(), "null": NullDriver(),
            "macvlan": MacvlanDriver(parents), "ipvlan": IpvlanDriver(parents),
            "overlay": overlay, "disabled-overlay": DisabledOverlay()}


def test_each_driver_declares_its_abilities():
    want = {"bridge": {FastLeave, PublishesPorts}, "host": {HostStack}, "null": {NoNetwork},
            "macvlan": {DhcpLeases, InspectExtras}, "ipvlan": {DhcpLeases, InspectExtras},
            "overlay": {ClusterIpam, InspectExtras},
            "disabled-overlay": {ClusterIpam}}
    for name, drv in _drivers().items():
        assert {a for a in ABILITIES if isinstance(drv, a)} == want[name], name


def test_registry_finds_an_ability_by_driver_name():
    d = _drivers()
    reg = DriverRegistry([d["bridge"], d["host"], d["null"], d["overlay"]])
    assert reg.ability("bridge", PublishesPorts) is d["bridge"]
    assert reg.ability("host", HostStack) is d["host"]
    assert reg.ability("bridge", HostStack) is None
    assert reg.ability("null", HostStack) is None
    assert reg.ability("no-such-driver", HostStack) is None   # a stored network of a gone driver


def test_overlay_inspect_extras_are_peers_then_a_pending_removal():
    drv = _drivers()["overlay"]
    nw = Network(id="a" * 64, name="ov", driver="overlay")
    extras = drv.inspect_extras(nw, 3)
    assert list(extras) == ["Peers"]
    assert extras["Peers"][0]["IP"] == "192.0.2.1" and extras["Peers"][0]["Endpoints"] == 3
    drv.removing[nw.id] = R.Removal(host="192.0.2.9", since="2026-01-01T00:00:00Z")
    extras = drv.inspect_extras(nw, 0)
    assert list(extras) == ["Peers", "Removing"]
    assert extras["Removing"] == {"RequestedBy": "192.0.2.9", "Since": "2026-01-01T00:00:00Z"}


def test_disabled_overlay_refuses_global_ipam_with_the_way_out():
    drv = DisabledOverlay()
    nw = Network(id="b" * 64, name="ov", driver="overlay")

    async def main():
        with pytest.raises(Unavailable, match="--cluster-store"):
            await drv.request_pools(nw, [], None, [])
        with pytest.raises(Unavailable, match="--cluster-store"):
            await drv.request_addresses(nw, Endpoint(id="e", network_id=nw.id, container_id="c"),
                                        EndpointSettings(network_id=nw.id))
    asyncio.run(main())


def test_core_and_api_ask_abilities_not_names():
    """No driver-name comparison or getattr-discovered ability is left in the core
    and the API (the overlay's own modules may name the bridge driver they use)."""
    bad = re.compile(r'\.driver\s*[!=]=\s*"|\.driver\s+for\b|getattr\((drv|c\.drivers|lst)\b'
                     r'|scope\s*==\s*"global"')
    hits = [f"{p.relative_to(SRC)}:{i}: {line.strip()}"
            for sub in ("core", "api") for p in sorted((SRC / sub).rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if bad.search(line)]
    assert hits == []


# ---- the lifecycle-listener Protocol -------------------------------------------------
class Recorder(LifecycleListener):
    """Follows two events; the others are the Protocol's no-ops."""

    def __init__(self, name, log, fail=()):
        self.name, self.log, self.fail = name, log, set(fail)

    async def sandbox_ready(self, c):
        self.log.append((self.name, "sandbox_ready", c))
        if "sandbox_ready" in self.fail:
            raise RuntimeError("ready failed")

    async def sandbox_removed(self, c):
        self.log.append((self.name, "sandbox_removed", c))
        if "sandbox_removed" in self.fail:
            raise RuntimeError("removed failed")


def test_the_protocol_lists_every_event_the_bus_emits():
    assert set(EVENTS) == {"network_created", "network_removed", "container_created",
                           "container_started", "container_health_changed",
                           "sandbox_ready", "endpoint_joined", "endpoint_left",
                           "sandbox_restored", "sandbox_removed", "container_removed",
                           "container_renamed"}
    for event in EVENTS:   # the bus is a listener too: one method per event, no dispatch by name
        assert getattr(EventBus, event) is not getattr(LifecycleListener, event), event


def test_a_listener_missing_events_is_refused_at_registration():
    class Partial:
        async def sandbox_ready(self, c):
            pass

    with pytest.raises(TypeError, match="not a LifecycleListener.*network_created"):
        EventBus().add(Partial())


def test_events_reach_listeners_in_order_and_failures_follow_the_contract():
    log = []
    bus = EventBus()
    bus.add(Recorder("b", log, fail={"sandbox_removed"}))
    bus.add(Recorder("a", log), first=True)
    bus.add(Recorder("c", log, fail={"sandbox_ready"}))

    async def main():
        await bus.container_created("x")                   # nobody follows it: a no-op
        await bus.sandbox_removed("x")                     # b fails: logged, c still told
        with pytest.raises(RuntimeError, match="ready failed"):
            await bus.sandbox_ready("y")                   # c fails: the start fails
    asyncio.run(main())
    assert log == [("a", "sandbox_removed", "x"), ("b", "sandbox_removed", "x"),
                   ("c", "sandbox_removed", "x"), ("a", "sandbox_ready", "y"),
                   ("b", "sandbox_ready", "y"), ("c", "sandbox_ready", "y")]
