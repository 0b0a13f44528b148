"""Core unit tests (fakes, no root): a start sets the process up (Runtime.prepare,
`runc create`) while the netns is plumbed, then starts it; a failure on either
side, or a cancel, leaves nothing (no endpoint, address, netns, nor a
prepared process)."""

from __future__ import annotations

import asyncio

import pytest

from core_fakes import make_rig


@pytest.fixture
async def rig(tmp_path, monkeypatch):
    """Networks n1 and n2 on a started controller, c1 created on both."""
    r = await make_rig(tmp_path, monkeypatch)
    await r.network("n1")
    await r.network("n2", enable_ipv6=True)
    r.c1 = await r.container("c1", "n1", "n2")
    r.created = r.state()
    yield r
    assert r.anomalies == []
    assert r.consistent() == []


def _injected(exc: BaseException, op: str) -> bool:
    return f"injected failure of {op}" in str(exc)


async def test_the_process_is_set_up_while_the_netns_is_plumbed(rig, monkeypatch):
    # prepare waits for the sandbox to be ready: done one after the other,
    # the start would never end
    ready = asyncio.Event()
    real_ready, real_prepare = rig.ctl.events.sandbox_ready, rig.runtime.prepare

    async def sandbox_ready(c):
        await real_ready(c)
        ready.set()

    async def prepare(cid):
        await asyncio.wait_for(ready.wait(), 5)
        return await real_prepare(cid)
    monkeypatch.setattr(rig.ctl.events, "sandbox_ready", sandbox_ready)
    monkeypatch.setattr(rig.runtime, "prepare", prepare)
    await asyncio.wait_for(rig.ctl.start_container("c1"), 10)
    assert rig.c1.status == "running"
    assert rig.state()["runtime.running"] == [rig.c1.id]
    assert rig.state()["runtime.prepared"] == []
    calls = rig.faults.calls
    assert calls.index("runtime.create") < calls.index("driver.join")   # the bundle first
    assert calls.index("runtime.prepare") < calls.index("runtime.start")


async def test_failed_prepare_with_the_network_joined_leaves_nothing(rig):
    rig.faults.fail("runtime.prepare")
    with pytest.raises(Exception) as err:
        await rig.ctl.start_container("c1")
    assert _injected(err.value, "runtime.prepare")   # the cause is what the user gets
    assert rig.faults.count("driver.join") == 2      # both networks were joined meanwhile
    assert rig.state() == rig.created
    assert rig.c1.status == "created" and _injected(rig.c1.error, "runtime.prepare")
    await rig.ctl.start_container("c1")              # and the same start works now
    assert rig.state()["runtime.running"] == [rig.c1.id]


@pytest.mark.parametrize("op, nth", [("driver.join", 2), ("listener.sandbox_ready", 1),
                                     ("netlink.set_default_route", 1)])
async def test_failed_plumbing_aborts_the_prepared_process(rig, op, nth):
    rig.faults.fail(op, nth)
    with pytest.raises(Exception) as err:
        await rig.ctl.start_container("c1")
    assert _injected(err.value, op)
    assert rig.faults.count("runtime.prepare") == 1
    assert rig.faults.count("runtime.abort") >= 1
    assert rig.state() == rig.created                 # no prepared process either
    await rig.ctl.start_container("c1")
    assert rig.state()["runtime.running"] == [rig.c1.id]


async def test_failed_start_of_a_prepared_process_leaves_nothing(rig):
    rig.faults.fail("runtime.start")
    with pytest.raises(Exception) as err:
        await rig.ctl.start_container("c1")
    assert _injected(err.value, "runtime.start")
    assert rig.state() == rig.created


async def test_a_cancelled_start_waits_for_the_prepare_and_undoes_it(rig, monkeypatch):
    real_prepare = rig.runtime.prepare
    entered, release = asyncio.Event(), asyncio.Event()

    async def prepare(cid):
        entered.set()
        await release.wait()
        return await real_prepare(cid)
    monkeypatch.setattr(rig.runtime, "prepare", prepare)
    task = asyncio.ensure_future(rig.ctl.start_container("c1"))
    await asyncio.wait_for(entered.wait(), 5)
    for _ in range(1000):   # the plumbing is done; only the prepare runs
        if rig.faults.count("netlink.set_default_route"):
            break
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done()          # the rollback waits for the prepare to end...
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.state() == rig.created   # ...and undoes it with the rest


async def test_a_net_sysctl_is_set_with_the_interfaces_there(tmp_path, monkeypatch):
    # runc writes --sysctl at create; one naming eth0 needs the join done first
    r = await make_rig(tmp_path, monkeypatch)
    await r.network("n1")
    c = await r.container("c2", "n1")
    c.config.raw_host_config["Sysctls"] = {"net.ipv4.conf.eth0.route_localnet": "1"}
    await r.ctl.start_container("c2")
    assert r.faults.count("runtime.prepare") == 0
    assert r.faults.calls.index("driver.join") < r.faults.calls.index("runtime.start")
    assert r.state()["runtime.running"] == [c.id]


async def test_a_restart_kills_the_process_a_crashed_start_left(rig):
    # the daemon died while c1's init waited (created, netns held, nothing
    # recorded): the next daemon kills it before it lets the sandbox go
    await rig.ctl.start_container("c1")
    await rig.exit(rig.c1, 0)
    rig.runtime.state[rig.c1.id] = "prepared"   # as a crash mid-start leaves it
    await rig.restart()
    assert rig.faults.count("runtime.discard") >= 1
    assert rig.state()["runtime.prepared"] == []
    assert rig.ctl.container("c1").status == "exited"
