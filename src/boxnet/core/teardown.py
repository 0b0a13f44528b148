"""The steps of a delete (netavark's error list, CNI's DEL): each step is
tried even when an earlier one failed, and the failures are reported
together in one error.

    steps = Teardown(f"removal of container {c.name}")
    await steps.run("its runtime state", runtime.delete, c.id)
    await steps.run("its directory", remove_tree, cdir)
    steps.done()        # BoxnetError naming every failed step, if any

The counterpart of core/undo.py's `rollback`, which undoes a failed create.
A step that fails for any reason (a BoxnetError, the store's sqlite3 error,
an OSError from the filesystem) is recorded with its name; what the user is
told lists them all, so nothing is lost behind the first failure.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ..errors import BoxnetError


class Teardown:
    """Failures collected across the steps of one delete."""

    def __init__(self, what: str):
        """`what` opens the error message (e.g. "disconnect of c1 from n1")."""
        self.what = what
        self.errors: list[str] = []

    async def run(self, step: str, fn: Callable, *args, **kw):
        """Call `fn(*args, **kw)` (sync or async); its result, or None when it
        failed (the failure is recorded as "<step>: <message>")."""
        try:
            res = fn(*args, **kw)
            if inspect.isawaitable(res):
                res = await res
            return res
        except Exception as exc:  # noqa: BLE001 - recorded and reported by done()
            self.errors.append(f"{step}: {getattr(exc, 'message', None) or exc}")
            return None

    def message(self) -> str:
        """Every failure so far, in one line."""
        return f"{self.what}: " + "; ".join(self.errors)

    def done(self) -> None:
        """Raise one BoxnetError listing every failed step (nothing if none failed)."""
        if self.errors:
            raise BoxnetError(self.message())
