"""Core unit tests (fakes, no root): a failed connect undoes every step and
gives the addresses back; a disconnect goes on past a failed step and
reports every failure; disconnecting what the kernel already lost succeeds."""

from __future__ import annotations

import pytest

from boxnet.errors import BoxnetError, Forbidden
from boxnet.model import EndpointSettings

from core_fakes import make_rig


@pytest.fixture
async def rig(tmp_path, monkeypatch):
    """A running container c1 on n1 (IPv4 only); n2 has IPv4 and IPv6."""
    r = await make_rig(tmp_path, monkeypatch)
    await r.network("n1")
    await r.network("n2", enable_ipv6=True)
    r.c1 = await r.run("c1", "n1")
    yield r
    assert r.anomalies == []
    assert r.consistent() == []


def _injected(exc: BaseException, op: str) -> bool:
    return f"injected failure of {op}" in str(exc)


async def test_connect_then_disconnect_leaves_nothing(rig):
    before = rig.state()
    await rig.ctl.connect("n2", "c1", EndpointSettings(network_id=""))
    after = rig.state()
    for key in ("ipam.addresses", "driver.ports", "firewall.endpoints", "store", "ctl.endpoints",
                "routes", "dns.records", "container.networks"):
        assert after[key] != before[key], key
    await rig.ctl.disconnect("n2", "c1")
    assert rig.state() == before


@pytest.mark.parametrize("op, nth", [
    ("ipam.request_address", 1),        # the IPv4 address
    ("ipam.request_address", 2),        # the IPv6 one: the IPv4 one goes back
    ("store.put:endpoints", 1),         # the endpoint's first commit
    ("driver.join", 1),                 # the veth into the sandbox
    ("firewall.add_endpoint", 1),       # its anti-spoofing entry, after the veth
    ("store.put:endpoints", 2),         # the commit after the join
    ("listener.endpoint_joined", 1),    # DNS/ports refuse the new endpoint
    ("netlink.set_default_route", 1),   # the IPv6 default route moves to n2
    ("store.put:containers", 1),        # the container's new settings
])
async def test_failed_connect_undoes_everything(rig, op, nth):
    before = rig.state()
    rig.faults.fail(op, nth)
    with pytest.raises(Exception) as err:
        await rig.ctl.connect("n2", "c1", EndpointSettings(network_id=""))
    assert _injected(err.value, op)
    assert rig.state() == before
    assert rig.consistent() == []
    # the same connect works now, with the addresses the failed one had
    await rig.ctl.connect("n2", "c1", EndpointSettings(network_id=""))
    ep = rig.ctl.eps_by_container[rig.c1.id][rig.ctl.network("n2").id]
    assert ep.ipv4.startswith("172.19.0.2/") and ep.ipv6.startswith("fd00:b0c5:1::2/")


async def test_failed_connect_of_a_static_address_frees_it(rig):
    from boxnet.ipam.api import PoolRequest
    await rig.network("n3", ipam_config=[PoolRequest(subnet="10.3.0.0/24")])
    before = rig.state()
    rig.faults.fail("driver.join")
    with pytest.raises(BoxnetError):
        await rig.ctl.connect("n3", "c1", EndpointSettings(network_id="", ipv4="10.3.0.9"))
    assert rig.state() == before
    await rig.ctl.connect("n3", "c1", EndpointSettings(network_id="", ipv4="10.3.0.9"))


async def test_failed_connect_of_a_stopped_container_keeps_its_settings(rig):
    c2 = await rig.container("c2", "n1")
    before = rig.state()
    rig.faults.fail("store.put:containers")
    with pytest.raises(Exception):
        await rig.ctl.connect("n2", "c2", EndpointSettings(network_id=""))
    assert rig.state() == before
    assert list(c2.networks) == [rig.ctl.network("n1").id]


async def test_refused_connect_changes_nothing(rig):
    before = rig.state()
    with pytest.raises(Forbidden):
        await rig.ctl.connect("n1", "c1", EndpointSettings(network_id=""))
    with pytest.raises(BoxnetError):   # static address outside any user subnet
        await rig.ctl.connect("n2", "c1", EndpointSettings(network_id="", ipv4="172.19.0.9"))
    assert rig.state() == before


# ---- disconnect ------------------------------------------------------------
@pytest.fixture
async def connected(rig):
    """c1 on n1 and n2; the state as it was with c1 on n1 only."""
    before = rig.state()
    await rig.ctl.connect("n2", "c1", EndpointSettings(network_id=""))
    return before


@pytest.mark.parametrize("op", [
    "firewall.remove_endpoint",    # the driver goes on and removes the veth
    "driver.leave",                # the veth: the state still goes, the address is free
    "store.delete:endpoints",
    "ipam.release_address",
    "netlink.del_default_route",   # the IPv6 default route through n2
    "store.put:containers",
])
async def test_disconnect_goes_on_and_reports(rig, connected, op):
    rig.faults.fail(op)
    with pytest.raises(Exception) as err:
        await rig.ctl.disconnect("n2", "c1")
    assert _injected(err.value, op)
    now = rig.state()
    parts = {"firewall.": ["firewall.endpoints"], "driver.": ["driver.ports"],
             "store.delete": ["store"], "store.put": [], "ipam.": ["ipam.addresses"],
             "netlink.": ["routes"]}
    skip = next(v for k, v in parts.items() if op.startswith(k))
    for key in connected:
        if key not in skip:
            assert now[key] == connected[key], key
    if op.startswith("store."):   # memory went on; the store could not follow
        rig.store.rows = _stored_as_in_memory(rig)


def _stored_as_in_memory(rig) -> dict:
    import msgspec
    enc = msgspec.json.encode
    return {"networks": {k: enc(v) for k, v in rig.ctl.networks.items()},
            "endpoints": {k: enc(v) for k, v in rig.ctl.endpoints.items()},
            "containers": {k: enc(v) for k, v in rig.ctl.containers.items()}}


async def test_disconnect_reports_every_failure(rig, connected):
    rig.faults.fail("firewall.remove_endpoint")
    rig.faults.fail("driver.leave")
    rig.faults.fail("ipam.release_address")
    with pytest.raises(BoxnetError) as err:
        await rig.ctl.disconnect("n2", "c1")
    for op in ("firewall.remove_endpoint", "driver.leave", "ipam.release_address"):
        assert _injected(err.value, op), op
    assert rig.state()["ctl.endpoints"] == connected["ctl.endpoints"]


async def test_disconnect_of_what_the_kernel_lost_is_success(rig, connected):
    ep = rig.ctl.eps_by_container[rig.c1.id][rig.ctl.network("n2").id]
    rig.driver.ports.pop(ep.id)             # the veth went behind the daemon's back
    rig.firewall.endpoints.pop(ep.id)
    await rig.ctl.disconnect("n2", "c1")
    assert rig.state() == connected


async def test_listener_failure_on_leave_does_not_stop_the_disconnect(rig, connected):
    rig.faults.fail("listener.endpoint_left")
    await rig.ctl.disconnect("n2", "c1")
    now = rig.state()
    assert {k: v for k, v in now.items() if k != "dns.records"} == \
        {k: v for k, v in connected.items() if k != "dns.records"}
