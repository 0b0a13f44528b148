"""core/execs.py with a fake runtime (no root): an exec start whose request is
cancelled while runc starts it still ends recorded (the process it made is
killed and watched: ExitCode, Running false); a failed start in that case
ends with dockerd's 126."""

from __future__ import annotations

import asyncio

import pytest

from boxnet.core.clock import now_rfc3339
from boxnet.core.execs import ExecOps
from boxnet.errors import KernelError
from boxnet.model import Container, ContainerConfig


class FakeProc:
    def __init__(self):
        self.pid = 4242
        self.exited = asyncio.get_running_loop().create_future()
        self.killed = self.closed = False

    def kill(self) -> None:
        self.killed = True
        if not self.exited.done():
            self.exited.set_result(137)

    def close(self) -> None:
        self.closed = True


class FakeRuntime:
    def __init__(self, fail: bool = False):
        self.gate, self.fail, self.proc = asyncio.Event(), fail, None

    async def exec_start(self, cid, args, env, cwd, stdin, stdout, stderr, user=""):
        await self.gate.wait()
        if self.fail:
            raise KernelError("runc exec failed")
        self.proc = FakeProc()
        return self.proc


class Feed:
    """Records the container events the exec ops emit."""

    def __init__(self):
        self.events = []

    def container_event(self, c, action, **extra):
        self.events.append((action, extra))


class Ctl(ExecOps):
    def __init__(self, runtime):
        self.event_feed = Feed()
        c = Container(id="c" * 64, name="c1", created=now_rfc3339(),
                      config=ContainerConfig(image="busybox"), status="running",
                      started_at=now_rfc3339())
        self.containers, self.execs, self._exec_consoles = {c.id: c}, {}, {}
        self.runtime = runtime

    def container(self, ref):
        return self.containers["c" * 64]


async def _cancelled_start(fail: bool):
    ctl = Ctl(FakeRuntime(fail))
    ex = ctl.create_exec("c1", ["sleep", "9"], [], "", False, False, True, True)
    task = asyncio.ensure_future(ctl.start_exec(ex.id, stdout=True))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ex.running and ex.exit_code is None   # runc still at it
    ctl.runtime.gate.set()
    for _ in range(100):
        if not ex.running:
            break
        await asyncio.sleep(0.005)
    return ctl, ex


async def test_a_start_cancelled_midway_kills_and_records_the_exec():
    ctl, ex = await _cancelled_start(fail=False)
    assert not ex.running and ex.exit_code == 137 and ex.pid == 4242
    await asyncio.sleep(0)
    assert ctl.runtime.proc.killed and ctl.runtime.proc.closed
    # dockerd's events, the exec's end included although its client left
    assert [a for a, _ in ctl.event_feed.events] == ["exec_create: sleep 9",
                                                     "exec_start: sleep 9", "exec_die"]
    assert ctl.event_feed.events[-1][1] == {"execID": ex.id, "exitCode": "137"}


async def test_a_cancelled_start_that_fails_ends_with_126():
    _, ex = await _cancelled_start(fail=True)
    assert not ex.running and ex.exit_code == 126
