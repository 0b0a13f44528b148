"""core/healthmon.py with a fake runtime (no root): probes through exec_start,
the timeout kill, output kept to 4096 bytes from both streams, the stop of a
probe in flight, exec errors, pause, and the health_status announcement."""

from __future__ import annotations

import asyncio

import pytest

from boxnet.core.clock import now_rfc3339
from boxnet.core.eventfeed import EventFeed
from boxnet.core.healthmon import HealthMonitor
from boxnet.errors import Conflict
from boxnet.model import Container, ContainerConfig

MS = 1_000_000


class FakeProc:
    """An ExecProcess stand-in: scripted output, exit code and duration."""

    def __init__(self, out: bytes = b"", err: bytes = b"", code: int = 0, hang: bool = False):
        self.pid, self.error = 4242, ""
        self.exited = asyncio.get_running_loop().create_future()
        self._data = {1: [out] if out else [], 2: [err] if err else []}
        self.killed = self.closed = False
        if not hang:
            self.exited.set_result(code)

    async def read(self, stream: int) -> bytes:
        return self._data[stream].pop(0) if self._data[stream] else b""

    def kill(self) -> None:
        self.killed = True
        if not self.exited.done():
            self.exited.set_result(137)

    def close(self) -> None:
        self.closed = True


class FakeRuntime:
    def __init__(self, make):
        self.make, self.calls, self.procs = make, [], []
        self.gate: asyncio.Event | None = None   # set: exec_start waits for it

    async def exec_start(self, cid, args, env, cwd, stdin, stdout, stderr, user=""):
        self.calls.append(args)
        if self.gate is not None:
            await self.gate.wait()
        proc = self.make()
        if isinstance(proc, Exception):
            raise proc
        self.procs.append(proc)
        return proc


class FakeEvents:
    def __init__(self):
        self.changes: list[str] = []

    async def container_health_changed(self, c):
        self.changes.append(c.health.status)


class FakeCtl:
    def __init__(self, make):
        self.runtime, self.events, self.saved = FakeRuntime(make), FakeEvents(), 0
        self.event_feed = EventFeed()
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro, what):
        t = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(t)
        return t

    def save_container(self, c):
        self.saved += 1


def _container(**hc) -> Container:
    cfg = ContainerConfig(image="busybox", raw_config={"Healthcheck": {
        "Test": ["CMD-SHELL", "check"], "Interval": 10 * MS, **hc}})
    return Container(id="c" * 64, name="c1", created=now_rfc3339(), config=cfg,
                     status="running", started_at=now_rfc3339())


async def _until(cond, timeout: float = 5.0):
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)


async def test_success_makes_it_healthy_and_is_announced():
    ctl = FakeCtl(lambda: FakeProc(out=b"fine\n"))
    mon, c = HealthMonitor(ctl), _container()
    await mon.container_started(c)
    assert c.health.status == "starting" and mon.probing(c.id)
    await _until(lambda: c.health.status == "healthy")
    assert ctl.runtime.calls[0] == ["/bin/sh", "-c", "check"]
    assert c.health.log[0].output == "fine\n" and c.health.log[0].exit_code == 0
    assert ctl.events.changes == ["healthy"] and ctl.saved >= 1
    await mon.sandbox_removed(c)
    assert c.health.status == "unhealthy" and not mon.probing(c.id)


async def test_each_probe_emits_dockers_exec_events():
    ctl = FakeCtl(lambda: FakeProc(code=3))
    mon, c = HealthMonitor(ctl), _container(Retries=1)
    await mon.container_started(c)
    await _until(lambda: c.health.status == "unhealthy")
    await mon.container_removed(c)
    evs = [(m["Action"], m["Actor"]["Attributes"]) for m in ctl.event_feed.ring]
    assert [a for a, _ in evs[:3]] == ["exec_create: /bin/sh -c check",
                                       "exec_start: /bin/sh -c check", "exec_die"]
    assert {a["execID"] for _, a in evs[:3]} == {evs[0][1]["execID"]}
    assert evs[2][1]["exitCode"] == "3" and evs[2][1]["name"] == "c1"


async def test_a_probe_past_its_timeout_is_killed():
    ctl = FakeCtl(lambda: FakeProc(out=b"partial", hang=True))
    mon, c = HealthMonitor(ctl), _container(Timeout=20 * MS, Retries=1)
    await mon.container_started(c)
    await _until(lambda: c.health.status == "unhealthy")
    r = c.health.log[0]
    assert r.exit_code == -1 and r.output == "Health check exceeded timeout (20ms): partial"
    assert ctl.runtime.procs[0].killed and ctl.runtime.procs[0].closed
    await mon.container_removed(c)


async def test_output_of_both_streams_is_kept_to_4096_bytes():
    ctl = FakeCtl(lambda: FakeProc(out=b"a" * 3000, err=b"b" * 3000, code=1))
    mon, c = HealthMonitor(ctl), _container(Retries=1)
    await mon.container_started(c)
    await _until(lambda: c.health.log)
    out = c.health.log[0].output
    assert len(out) == 4096 + 3 and out.endswith("...") and set(out[:-3]) <= {"a", "b"}
    await mon.container_removed(c)


async def test_stopping_kills_the_probe_in_flight():
    ctl = FakeCtl(lambda: FakeProc(hang=True))
    mon, c = HealthMonitor(ctl), _container(Timeout=60_000 * MS)
    await mon.container_started(c)
    await _until(lambda: ctl.runtime.procs)
    task = next(iter(ctl.tasks))
    await mon.sandbox_removed(c)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ctl.runtime.procs[0].killed and c.health.log == []
    assert c.health.status == "unhealthy"


async def test_an_exec_error_is_a_failed_probe_with_its_message():
    ctl = FakeCtl(lambda: Conflict("container c is not running"))
    mon, c = HealthMonitor(ctl), _container(Retries=2)
    await mon.container_started(c)
    await _until(lambda: c.health.status == "unhealthy")
    assert [r.exit_code for r in c.health.log] == [-1, -1]
    assert c.health.log[0].output == "container c is not running"
    await mon.container_removed(c)


async def test_pause_stops_probing_unpause_resumes_without_reset():
    ctl = FakeCtl(lambda: FakeProc())
    mon, c = HealthMonitor(ctl), _container()
    await mon.container_started(c)
    await _until(lambda: c.health.status == "healthy")
    c.paused = True
    mon.paused(c)
    assert c.health.status == "unhealthy" and not mon.probing(c.id)
    n = len(ctl.runtime.calls)
    c.paused = False
    mon.unpaused(c)
    assert c.health.status == "unhealthy"          # until the next result, as dockerd
    await _until(lambda: len(ctl.runtime.calls) > n and c.health.status == "healthy")
    await mon.container_removed(c)


async def test_no_healthcheck_or_none_runs_nothing():
    ctl = FakeCtl(lambda: FakeProc())
    mon = HealthMonitor(ctl)
    for hc in (None, {"Test": ["NONE"]}, {"Test": []}):
        c = _container()
        c.config.raw_config = {"Healthcheck": hc} if hc is not None else {}
        await mon.container_started(c)
        assert c.health is None and not mon.probing(c.id)
    assert not ctl.tasks


async def test_a_probe_cancelled_while_its_exec_starts_kills_the_process_later():
    ctl = FakeCtl(lambda: FakeProc(hang=True))
    ctl.runtime.gate = asyncio.Event()
    mon, c = HealthMonitor(ctl), _container()
    await mon.container_started(c)
    await _until(lambda: ctl.runtime.calls)
    mon.paused(c)                       # cancels the task inside exec_start
    await asyncio.sleep(0)
    ctl.runtime.gate.set()              # runc finishes anyway: its process appears
    await _until(lambda: ctl.runtime.procs and ctl.runtime.procs[0].killed)
    assert ctl.runtime.procs[0].closed and not mon._starting
