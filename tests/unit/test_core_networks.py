"""Core unit tests (fakes, no root): a failed network create undoes
everything; a network removal goes on past a failed step and reports it."""

from __future__ import annotations

import pytest

from boxnet.errors import BoxnetError, Conflict, Forbidden, KernelError, NotFound
from boxnet.ipam.api import PoolRequest

from core_fakes import make_rig


@pytest.fixture
async def rig(tmp_path, monkeypatch):
    """A started controller on fakes; no fake saw misuse, memory and store agree."""
    r = await make_rig(tmp_path, monkeypatch)
    yield r
    assert r.anomalies == []
    assert r.consistent() == []


async def test_rig_sees_what_a_network_holds(rig):
    # the snapshot the rollback tests compare must see each part of a network
    before = rig.state()
    nw = await rig.network("n1", enable_ipv6=True)
    after = rig.state()
    for key in ("ipam.pools", "driver.bridges", "firewall.networks", "store", "ctl.networks",
                "ctl.net_by_name"):
        assert after[key] != before[key], key
    assert len(nw.pools) == 2
    await rig.ctl.remove_network("n1")
    assert rig.state() == before


@pytest.mark.parametrize("op, nth", [
    ("netlink.host_routes", 1),         # before any pool
    ("ipam.request_pool:v4", 1),        # the first pool
    ("ipam.request_pool:v6", 1),        # the second pool: the first one goes back
    ("store.put:networks", 1),          # the commit
    ("driver.create_network", 1),       # the bridge
    ("firewall.add_network", 1),        # the firewall entry, after the bridge
])
async def test_failed_create_undoes_everything(rig, op, nth):
    before = rig.state()
    rig.faults.fail(op, nth)
    with pytest.raises(Exception) as err:
        await rig.network("n1", enable_ipv6=True)
    assert "injected failure of " + op in str(err.value)
    assert rig.state() == before
    # and nothing is in the way of the same create now
    nw = await rig.network("n1", enable_ipv6=True)
    assert rig.ctl.network("n1") is nw


async def test_failed_create_with_user_subnets_frees_them(rig):
    before = rig.state()
    rig.faults.fail("firewall.add_network")
    cfg = [PoolRequest(subnet="10.9.0.0/24"), PoolRequest(subnet="fd09::/64")]
    with pytest.raises(KernelError):
        await rig.network("n1", enable_ipv6=True, ipam_config=cfg)
    assert rig.state() == before
    cfg = [PoolRequest(subnet="10.9.0.0/24"), PoolRequest(subnet="fd09::/64")]
    nw = await rig.network("n1", enable_ipv6=True, ipam_config=cfg)
    assert [p.subnet for p in nw.pools] == ["10.9.0.0/24", "fd09::/64"]


async def test_refused_create_changes_nothing(rig):
    await rig.network("n1", ipam_config=[PoolRequest(subnet="10.9.0.0/24")])
    before = rig.state()
    with pytest.raises(Conflict):
        await rig.network("n1")
    with pytest.raises(Conflict):       # overlapping user subnet: the v4 pool is refused
        await rig.network("n2", ipam_config=[PoolRequest(subnet="10.9.0.0/16")])
    with pytest.raises(Forbidden):
        await rig.ctl.create_network("h2", "host")
    with pytest.raises(NotFound):
        await rig.ctl.create_network("n3", "nosuchdriver")
    assert rig.state() == before


async def test_failed_undo_does_not_stop_the_other_undos(rig):
    # the store write fails and so does its undo (the disk is gone): the pool
    # must still go back and the network must not stay indexed
    before = rig.state()
    rig.faults.fail("driver.create_network")
    rig.faults.fail("store.delete:networks")
    with pytest.raises(Exception):
        await rig.network("n1")
    now = rig.state()
    assert now["ipam.pools"] == before["ipam.pools"]
    assert now["ctl.networks"] == before["ctl.networks"]
    assert now["driver.bridges"] == before["driver.bridges"]
    # the row whose delete failed stays (the next start restores that network):
    # drop it here so the fixture's memory/store check sees the rest
    rig.store.rows["networks"] = {k: v for k, v in rig.store.rows["networks"].items()
                                  if k in rig.ctl.networks}


async def test_listener_failure_after_create_keeps_the_network(rig):
    # network_created is a notification: a listener's failure is logged, the
    # network exists (the API said 201 to nobody otherwise)
    rig.faults.fail("listener.network_created")
    nw = await rig.network("n1")
    assert rig.ctl.network("n1") is nw and nw.id in rig.driver.bridges


# ---- removal ---------------------------------------------------------------
@pytest.mark.parametrize("op", ["firewall.remove_network", "driver.delete_network",
                                "ipam.release_pool", "store.delete:networks"])
async def test_remove_goes_on_and_reports(rig, op):
    before = rig.state()
    await rig.network("n1")
    rig.faults.fail(op)
    with pytest.raises(BoxnetError) as err:
        await rig.ctl.remove_network("n1")
    assert "injected failure of " + op in err.value.message
    now = rig.state()
    # every other step was done
    for key, part in (("ipam.pools", "ipam."), ("driver.bridges", "driver."),
                      ("firewall.networks", "firewall."), ("store", "store."),
                      ("ctl.networks", None), ("ctl.net_by_name", None)):
        if part is None or not op.startswith(part):
            assert now[key] == before[key], key
    if op.startswith("store."):   # the row whose delete failed stays until the next start
        rig.store.rows["networks"] = {k: v for k, v in rig.store.rows["networks"].items()
                                      if k in rig.ctl.networks}


async def test_remove_reports_every_failure(rig):
    await rig.network("n1")
    rig.faults.fail("firewall.remove_network")
    rig.faults.fail("driver.delete_network")
    rig.faults.fail("ipam.release_pool")
    with pytest.raises(BoxnetError) as err:
        await rig.ctl.remove_network("n1")
    for op in ("firewall.remove_network", "driver.delete_network", "ipam.release_pool"):
        assert "injected failure of " + op in err.value.message


async def test_remove_of_what_the_kernel_lost_is_success(rig):
    # bridge and firewall entry gone behind the daemon's back: removal succeeds
    before = rig.state()
    nw = await rig.network("n1")
    rig.driver.bridges.discard(nw.id)
    rig.firewall.networks.pop(nw.id)
    await rig.ctl.remove_network("n1")
    assert rig.state() == before


async def test_remove_in_use_is_refused_and_changes_nothing(rig):
    await rig.network("n1")
    await rig.run("c1", "n1")
    before = rig.state()
    with pytest.raises(Forbidden):
        await rig.ctl.remove_network("n1")
    with pytest.raises(Forbidden):
        await rig.ctl.remove_network("bridge")
    assert rig.state() == before


async def test_prune_goes_on_past_a_failed_removal_and_lists_what_went(rig):
    before = rig.state()
    await rig.network("n1")
    await rig.network("n2")
    await rig.network("n3")
    await rig.container("c1", "n3")          # n3 is configured for a container: kept
    rig.faults.fail("firewall.remove_network")   # n1's firewall entry
    removed = await rig.ctl.prune_networks(lambda nw: False)
    assert sorted(removed) == ["n1", "n2"]
    assert sorted(rig.ctl.net_by_name) == sorted(before["ctl.net_by_name"] + ["n3"])
