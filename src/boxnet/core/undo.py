"""Undo steps for operations that change several things (libnetwork's deferred
undos, CNI's `success` flag) on an AsyncExitStack.

    async with rollback(f"network {name}") as undo:
        pool = ipam.request_pool(...)
        undo.push("release of its pool", ipam.release_pool, pool.subnet)
        store.put(...)
        undo.push("removal from the store", store.delete, ...)
        await driver.create_network(nw)          # fails: both undone, newest first

Each step is pushed right after the change it undoes succeeded, so only what
was done is undone.  The steps run, newest first, only when the block
raises; a step that fails is logged with what it undid and the others still
run; the block's own error is the one that propagates.  On success nothing
runs.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable

log = logging.getLogger(__name__)


class Undo:
    """The undo steps of one operation (see the module docstring)."""

    def __init__(self, stack: contextlib.AsyncExitStack, what: str):
        self._stack = stack
        self.what = what

    def push(self, step: str, fn: Callable, *args, **kw) -> None:
        """Undo with `fn(*args, **kw)` (sync or async) if the operation fails."""
        async def run() -> None:
            try:
                res = fn(*args, **kw)
                if inspect.isawaitable(res):
                    await res
            except Exception as exc:  # noqa: BLE001 - logged; the other undos still run
                log.warning("rollback of %s: %s failed: %s", self.what, step,
                            getattr(exc, "message", None) or exc)
        self._stack.push_async_callback(run)


@contextlib.asynccontextmanager
async def rollback(what: str) -> AsyncIterator[Undo]:
    """Collect undo steps for `what`; run them (newest first) if the block raises."""
    stack = contextlib.AsyncExitStack()
    try:
        yield Undo(stack, what)
    except BaseException:
        await stack.aclose()
        raise
    stack.pop_all()
