"""Core unit tests (fakes, no root): container create and start undo every
step they did when one fails; exit and removal go on past a failed step."""

from __future__ import annotations

import asyncio
import logging

import pytest

from boxnet.errors import BoxnetError, Conflict, NotFound
from boxnet.model import ContainerConfig, EndpointSettings

from core_fakes import make_rig


@pytest.fixture
async def rig(tmp_path, monkeypatch):
    """Networks n1 (IPv4) and n2 (IPv4 and IPv6) on a started controller."""
    r = await make_rig(tmp_path, monkeypatch)
    await r.network("n1")
    await r.network("n2", enable_ipv6=True)
    yield r
    assert r.anomalies == []
    assert r.consistent() == []


def _injected(exc: BaseException, op: str) -> bool:
    return f"injected failure of {op}" in str(exc)


# ---- create ----------------------------------------------------------------
@pytest.mark.parametrize("op", ["images.get", "store.put:containers"])
async def test_failed_create_leaves_nothing(rig, op):
    before = rig.state()
    rig.faults.fail(op, exc=NotFound("injected failure of " + op) if op == "images.get" else None)
    with pytest.raises(Exception) as err:
        await rig.container("c1", "n1")
    assert _injected(err.value, op)
    assert rig.state() == before
    await rig.container("c1", "n1")     # the name is free


async def test_refused_create_leaves_nothing(rig):
    await rig.container("c1", "n1")
    before = rig.state()
    with pytest.raises(Conflict):
        await rig.container("c1", "n1")
    with pytest.raises(BoxnetError):    # a static address in a network without a user subnet
        await rig.ctl.create_container("c2", ContainerConfig(image="busybox", network_mode="n1"),
                                       {"n1": EndpointSettings(network_id="", ipv4="172.18.0.9")})
    assert rig.state() == before


# ---- start -----------------------------------------------------------------
@pytest.fixture
async def created(rig):
    """c1, created on n1 and n2; the state before it was started."""
    rig.c1 = await rig.container("c1", "n1", "n2")
    return rig.state()


START_STEPS = [
    ("netns.create", 1),
    ("sysctl.sandbox_defaults", 1),
    ("netlink.link_lo_up", 1),
    ("ipam.request_address", 2),        # n2's IPv4 address: n1's endpoint goes
    ("ipam.request_address", 3),        # n2's IPv6 address
    ("driver.join", 2),                 # n2's veth
    ("firewall.add_endpoint", 2),
    ("store.put:endpoints", 3),
    ("listener.sandbox_ready", 1),      # DNS or ports refuse the sandbox
    ("runtime.create", 1),
    ("runtime.prepare", 1),             # runc create, while the netns is plumbed
    ("netlink.set_default_route", 1),
    ("runtime.start", 1),
]


@pytest.mark.parametrize("op, nth", START_STEPS)
async def test_failed_start_undoes_everything(rig, created, op, nth):
    rig.faults.fail(op, nth)
    with pytest.raises(Exception) as err:
        await rig.ctl.start_container("c1")
    assert _injected(err.value, op)
    assert rig.state() == created
    assert rig.c1.status == "created" and _injected(rig.c1.error, op)
    # the same start works now, with the first addresses of each pool
    await rig.ctl.start_container("c1")
    eps = rig.ctl.container_endpoints(rig.c1.id)
    assert [ep.ipv4.split("/")[0] for ep in eps] == ["172.18.0.2", "172.19.0.2"]
    assert rig.state()["runtime.running"] == [rig.c1.id]


async def test_failed_start_with_a_failing_undo_still_undoes_the_rest(rig, created):
    # the start fails late and one leave of its rollback fails too: the other
    # endpoint, both addresses and the netns still go
    rig.faults.fail("runtime.start")
    rig.faults.fail("driver.leave_released")
    rig.faults.fail("driver.leave")
    with pytest.raises(Exception) as err:
        await rig.ctl.start_container("c1")
    assert _injected(err.value, "runtime.start")     # the error the user gets is the cause
    now = rig.state()
    for key in ("ipam.addresses", "ctl.endpoints", "store", "netns", "dns.records",
                "runtime.running"):
        assert now[key] == created[key], key


async def test_failed_start_of_run_rm_removes_the_container(rig, created):
    rig.c1.config.auto_remove = True
    rig.faults.fail("runtime.start")
    with pytest.raises(BoxnetError):
        await rig.ctl.start_container("c1")
    for _ in range(100):
        if rig.c1.id not in rig.ctl.containers:
            break
        await asyncio.sleep(0.01)
    now = rig.state()
    assert rig.c1.id not in now["ctl.containers"] and now["store"]["containers"] == []
    assert now["netns"] == [] and now["ipam.addresses"] == {}


async def test_start_of_a_missing_network_changes_nothing(rig, created):
    # n2 removed meanwhile: it is only configured, not joined, so that is allowed
    await rig.ctl.remove_network("n2")
    created = rig.state()
    with pytest.raises(NotFound):
        await rig.ctl.start_container("c1")
    now = rig.state()
    for key in ("ipam.addresses", "driver.ports", "firewall.endpoints", "ctl.endpoints", "netns"):
        assert now[key] == created[key], key


# ---- exit and removal --------------------------------------------------------
@pytest.fixture
async def running(rig, created):
    """c1 running on n1 and n2; the state before its start."""
    await rig.ctl.start_container("c1")
    return created


async def test_exit_then_rm_leaves_nothing(rig, running):
    await rig.exit(rig.c1, 3)
    assert rig.c1.status == "exited" and rig.c1.exit_code == 3
    now = rig.state()
    for key in ("ipam.addresses", "driver.ports", "firewall.endpoints", "ctl.endpoints", "netns",
                "routes", "dns.records", "runtime.running"):
        assert now[key] == running[key], key
    before_any = {k: v for k, v in now.items() if not k.startswith(("ctl.cont", "container"))}
    await rig.ctl.remove_container("c1")
    assert rig.c1.id not in rig.ctl.containers and rig.store.rows["containers"] == {}
    assert {k: v for k, v in rig.state().items() if k in before_any and k != "store"} == \
        {k: v for k, v in before_any.items() if k != "store"}


@pytest.mark.parametrize("op", ["driver.leave_released", "firewall.remove_endpoint",
                                "store.delete:endpoints", "ipam.release_address",
                                "netlink.forget_netns", "netns.delete"])
async def test_exit_teardown_goes_on_and_reports(rig, running, op, caplog):
    rig.faults.fail(op)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(rig.exit(rig.c1, 0), 5)
    assert rig.c1.status == "exited"
    assert any(_injected(r.getMessage(), op) for r in caplog.records), caplog.text
    now = rig.state()
    skip = {"driver.": "driver.ports", "firewall.": "firewall.endpoints", "store.": "store",
            "ipam.": "ipam.addresses", "netlink.": None, "netns.": "netns"}
    for key in ("ipam.addresses", "driver.ports", "firewall.endpoints", "ctl.endpoints", "netns",
                "dns.records", "runtime.running", "store"):
        if key != next(v for k, v in skip.items() if op.startswith(k)):
            assert now[key] == running[key], key
    if op.startswith("store."):
        rig.store.rows["endpoints"].clear()   # the row whose delete failed


async def test_rm_force_of_a_running_container(rig, running):
    await rig.ctl.remove_container("c1", force=True)
    now = rig.state()
    for key in ("ipam.addresses", "driver.ports", "firewall.endpoints", "ctl.endpoints", "netns",
                "dns.records", "runtime.running"):
        assert now[key] == running[key], key
    assert rig.c1.id not in now["ctl.containers"] and now["store"]["containers"] == []


@pytest.mark.parametrize("op", ["runtime.delete", "fstree.remove_tree", "store.delete:containers"])
async def test_rm_goes_on_and_reports(rig, running, op):
    await rig.exit(rig.c1, 0)
    rig.faults.fail(op)
    with pytest.raises(Exception) as err:
        await rig.ctl.remove_container("c1")
    assert _injected(err.value, op)
    assert rig.c1.id not in rig.ctl.containers and rig.c1.name not in rig.ctl.cont_by_name
    if op != "runtime.delete":
        assert rig.c1.id not in rig.runtime.state
    if op != "store.delete:containers":
        assert rig.store.rows["containers"] == {}
    rig.store.rows["containers"].clear()


async def test_rm_reports_every_failure(rig, running):
    await rig.exit(rig.c1, 0)
    rig.faults.fail("runtime.delete")
    rig.faults.fail("fstree.remove_tree")
    with pytest.raises(BoxnetError) as err:
        await rig.ctl.remove_container("c1")
    assert _injected(err.value, "runtime.delete") and _injected(err.value, "fstree.remove_tree")


async def test_rm_of_what_is_already_gone_is_success(rig, running):
    await rig.exit(rig.c1, 0)
    await rig.runtime.delete(rig.c1.id)   # runc state and bundle already gone
    await rig.ctl.remove_container("c1")
    assert rig.c1.id not in rig.ctl.containers


async def test_concurrent_rm_both_succeed(rig, running):
    await rig.exit(rig.c1, 0)
    await asyncio.gather(rig.ctl.remove_container("c1"), rig.ctl.remove_container("c1"))
    assert rig.faults.count("runtime.delete") == 1
    with pytest.raises(NotFound):
        await rig.ctl.remove_container("c1")


async def test_exit_after_the_netns_pin_vanished_is_clean(rig, running, caplog):
    # the pin was removed behind the daemon's back: the teardown has nothing
    # to report, and everything else is released
    rig.kernel.netns.pop(rig.c1.sandbox_key)
    with caplog.at_level(logging.WARNING):
        await rig.exit(rig.c1, 0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    now = rig.state()
    for key in ("ipam.addresses", "driver.ports", "firewall.endpoints", "ctl.endpoints", "netns"):
        assert now[key] == running[key], key


async def test_a_pin_left_by_a_failed_teardown_goes_at_the_next_start(rig, running):
    pin = rig.c1.sandbox_key
    rig.faults.fail("netns.delete")
    await rig.exit(rig.c1, 0)
    assert pin in rig.kernel.netns and rig.c1.sandbox_key == ""
    await rig.restart()
    assert pin not in rig.kernel.netns
    assert rig.state()["ipam.addresses"] == {}


@pytest.mark.parametrize("op", ["store.put:endpoints", "store.put:containers"])
async def test_failed_rename_changes_nothing(rig, running, op):
    eps = {ep.id: list(ep.dns_names) for ep in rig.ctl.container_endpoints(rig.c1.id)}
    rig.faults.fail(op)
    with pytest.raises(Exception):
        await rig.ctl.rename_container("c1", "c9")
    assert rig.ctl.container("c1") is rig.c1 and rig.c1.name == "c1"
    assert {ep.id: ep.dns_names for ep in rig.ctl.container_endpoints(rig.c1.id)} == eps
    with pytest.raises(NotFound):
        rig.ctl.container("c9")
    await rig.ctl.rename_container("c1", "c9")
    assert rig.ctl.container("c9") is rig.c1
