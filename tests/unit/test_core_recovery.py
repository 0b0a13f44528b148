"""Core unit tests (fakes, no root) of the re-adoption decisions after a daemon
restart (core/recovery.py): a recorded PID reaches the runtime only when its
identity matches; a living container whose pin vanished is pinned again and
kept; a refused re-pin stops it as before; a legacy record is completed.
The real kernel side is proven by tests/integration/test_netns_recovery.py."""

from __future__ import annotations

import pytest

from boxnet.errors import KernelError
from boxnet.kernel import netns as kernel_netns, procid as kernel_procid

from core_fakes import make_rig


@pytest.fixture
async def rig(tmp_path, monkeypatch):
    """A started controller with network n1 and a running container c1."""
    r = await make_rig(tmp_path, monkeypatch)
    await r.network("n1")
    r.c1 = await r.run("c1", "n1")
    r.calls = []
    r.monkeypatch = monkeypatch
    yield r
    assert r.anomalies == []


def spy_runtime(rig, adopt_answer: bool) -> None:
    """Record every adopt and kill the restarted controller asks of the runtime."""
    kill = rig.runtime.kill

    async def adopt(cid, pid, on_exit):
        rig.calls.append(("adopt", cid, pid))
        if adopt_answer:
            rig.runtime._on_exit[cid] = on_exit
        return adopt_answer

    async def spied_kill(cid, sig):
        rig.calls.append(("kill", cid, sig))
        await kill(cid, sig)
    rig.monkeypatch.setattr(rig.runtime, "adopt", adopt)
    rig.monkeypatch.setattr(rig.runtime, "kill", spied_kill)


def process_is(rig, alive: bool) -> None:
    rig.monkeypatch.setattr(kernel_procid, "is_alive", lambda pid, start, boot: alive)


async def test_recycled_pid_never_reaches_the_runtime(rig):
    """The recorded identity does not match: no adopt, no signal, marked exited."""
    assert rig.c1.boot_id, "the start recorded no boot id"
    process_is(rig, False)
    spy_runtime(rig, adopt_answer=True)
    await rig.restart()
    c1 = rig.ctl.container("c1")
    assert rig.calls == []
    assert c1.status == "exited" and c1.pid == 0 and not c1.boot_id and not c1.sandbox_key
    assert rig.ctl.eps_by_container.get(c1.id, {}) == {}


async def test_vanished_pin_is_pinned_again_and_the_container_kept(rig):
    key, want = rig.c1.sandbox_key, (rig.c1.netns_dev, rig.c1.netns_ino)
    assert want[1], "the create recorded no netns inode"
    rig.kernel.netns.pop(key)           # the pin vanished with the daemon's mount namespace
    process_is(rig, True)
    spy_runtime(rig, adopt_answer=True)

    def repin(path, pid, still_same, expect):
        assert still_same()
        rig.calls.append(("repin", path, pid, expect))
        rig.kernel.netns[path] = {"routes": {}}
        return expect
    rig.monkeypatch.setattr(kernel_netns, "repin_from_process", repin)
    await rig.restart()
    c1 = rig.ctl.container("c1")
    assert rig.calls == [("adopt", c1.id, rig.c1.pid), ("repin", key, rig.c1.pid, want)]
    assert c1.status == "running" and c1.sandbox_key == key
    assert list(rig.ctl.eps_by_container[c1.id]) == [rig.ctl.network("n1").id]


async def test_refused_repin_stops_the_adopted_container(rig):
    rig.kernel.netns.pop(rig.c1.sandbox_key)
    process_is(rig, True)
    spy_runtime(rig, adopt_answer=True)

    def refuse(path, pid, still_same, expect):
        raise kernel_netns.RepinRefused(f"process {pid} is in another netns")
    rig.monkeypatch.setattr(kernel_netns, "repin_from_process", refuse)
    await rig.restart()
    c1 = rig.ctl.container("c1")
    assert ("kill", c1.id, 9) in rig.calls
    assert c1.status == "exited"


async def test_legacy_record_left_to_the_runtime_and_completed(rig):
    """A record from before identities (no boot id): the runtime's own check decides;
    once adopted, the record gets its identity."""
    c1 = rig.ctl.container("c1")
    c1.pid_start, c1.boot_id = 0, ""
    rig.ctl.save_container(c1)
    process_is(rig, False)
    spy_runtime(rig, adopt_answer=True)
    rig.monkeypatch.setattr(kernel_procid, "identify", lambda pid: kernel_procid.ProcessIdentity(
        pid=pid, start_time=4242, boot_id="this-boot"))
    await rig.restart()
    c1 = rig.ctl.container("c1")
    assert rig.calls == [("adopt", c1.id, c1.pid)]
    assert c1.status == "running" and (c1.pid_start, c1.boot_id) == (4242, "this-boot")


async def test_repin_failure_of_the_kernel_is_not_fatal_to_the_start(rig):
    """A KernelError other than a refusal (e.g. the bind mount failed) stops the
    container as a lost netns, and the daemon starts."""
    rig.kernel.netns.pop(rig.c1.sandbox_key)
    process_is(rig, True)
    spy_runtime(rig, adopt_answer=True)

    def fail(path, pid, still_same, expect):
        raise KernelError("cannot pin: EPERM")
    rig.monkeypatch.setattr(kernel_netns, "repin_from_process", fail)
    await rig.restart()
    assert rig.ctl.container("c1").status == "exited"
