"""Per-phase timings of one operation, logged at debug level.

`spans = Spans("start of web")`, then `spans.mark("netns")` after each phase
(the time since the previous mark is that phase's), and `spans.log()` at the
end: one debug line `start of web: netns 1.2 ms, join 5.1 ms, ... = 40.3 ms`.
The line is formatted only when the debug level is on, so the hot path pays one
`perf_counter` call and one list append per phase.  What for: the speed of container create and
start (bench/scenarios/realrun.py) is split by phase without a profiler.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("boxnet.spans")


class Spans:
    """The phases of one operation, in order."""

    __slots__ = ("what", "t0", "last", "phases")

    def __init__(self, what: str):
        """Begin timing `what` now."""
        self.what = what
        self.t0 = self.last = time.perf_counter()
        self.phases: list[tuple[str, float]] = []

    def mark(self, phase: str) -> None:
        """End `phase` now: it took the time since the previous mark."""
        now = time.perf_counter()
        self.phases.append((phase, now - self.last))
        self.last = now

    def total(self) -> float:
        """Seconds since the operation began."""
        return time.perf_counter() - self.t0

    def log(self) -> None:
        """One debug line with every phase in ms and the total."""
        if log.isEnabledFor(logging.DEBUG):
            parts = ", ".join(f"{p} {d * 1000:.1f} ms" for p, d in self.phases)
            log.debug("%s: %s = %.1f ms", self.what, parts, self.total() * 1000)
