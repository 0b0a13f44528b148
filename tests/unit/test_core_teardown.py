"""core/teardown.py: every step of a delete is tried, every failure reported."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from boxnet.core.teardown import Teardown
from boxnet.errors import BoxnetError, KernelError


async def test_every_step_runs_and_every_failure_is_listed():
    ran = []

    def sync_ok(x):
        ran.append(x)
        return x

    async def async_fail():
        ran.append("async")
        raise KernelError("link busy")

    def store_fail():
        ran.append("store")
        raise sqlite3.OperationalError("disk I/O error")

    steps = Teardown("removal of container c1")
    assert await steps.run("first", sync_ok, 1) == 1
    assert await steps.run("kernel", async_fail) is None
    assert await steps.run("store", store_fail) is None
    assert await steps.run("last", sync_ok, 2) == 2
    assert ran == [1, "async", "store", 2]
    with pytest.raises(BoxnetError) as err:
        steps.done()
    assert err.value.message == ("removal of container c1: kernel: link busy; "
                                 "store: disk I/O error")


async def test_nothing_failed_nothing_raised():
    steps = Teardown("x")
    await steps.run("a", lambda: None)
    steps.done()
    assert steps.errors == []


async def test_cancellation_is_not_swallowed():
    async def cancelled():
        raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await Teardown("x").run("a", cancelled)
