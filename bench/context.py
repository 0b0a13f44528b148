"""What every scenario shares: the run mode, peer start/stop with skip reasons, and results.

A scenario gets a Context, asks it for peers (started inside their own bench netns, or
skipped with the reason), records metrics (repeated measurements, in ms or Gbit/s), series
(a per-operation curve for the plots) and goals (met / missed / not measured).
"""

from __future__ import annotations

import contextlib
import sys
import traceback

from bench import stats
from bench.peers import PEERS


class Context:
    """Run mode and the results of the scenario being run."""

    def __init__(self, quick: bool, log=print, peers: set[str] | None = None,
                 reps: int | None = None):
        self.quick = quick
        self.log = log
        self.only_peers = peers  # None: every peer
        self.reps = reps  # None: the scenario's own choice for the mode
        self.result: dict = {}

    def begin(self, name: str, title: str) -> dict:
        """Start recording a new scenario's results; return the (mutable) result dict."""
        self.result = {"name": name, "title": title, "skipped": {}, "metrics": {},
                       "series": {}, "curves": {}, "goals": [], "notes": []}
        return self.result

    def pick(self, quick_value, full_value):
        """The quick-mode or full-mode value."""
        return quick_value if self.quick else full_value

    def repetitions(self, quick_value: int, full_value: int) -> int:
        """Repetitions per measurement: the override if given, else by mode."""
        return self.reps or self.pick(quick_value, full_value)

    @contextlib.contextmanager
    def peer(self, name: str, factory=None):
        """Yield a started peer (or None when unavailable or failed to start); stop it after.

        An exception inside the block is recorded as that peer's skip reason, so one broken
        peer does not sink the whole scenario.
        """
        if self.only_peers is not None and name not in self.only_peers:
            yield None
            return
        obj = (factory or PEERS[name])()
        ok, why = obj.available()
        if not ok:
            self.skip(name, why)
            yield None
            return
        try:
            obj.start()
        except Exception as e:  # a peer that does not come up is reported, not fatal
            self.skip(name, f"daemon not available: {e}"[:400])
            with contextlib.suppress(Exception):
                obj.stop()
            yield None
            return
        try:
            yield obj
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            self.skip(name, f"failed during the run: {type(e).__name__}: {e}"[:400])
        finally:
            obj.stop()

    def skip(self, peer: str, reason: str) -> None:
        """Record why a peer has no results in this scenario."""
        self.result["skipped"][peer] = reason
        self.log(f"  [{peer}] skipped: {reason}")

    def metric(self, key: str, label: str, unit: str, peer: str, values: list[float],
               higher_is_better: bool = False) -> dict:
        """Record repeated measurements of one metric for one peer; return the summary."""
        m = self.result["metrics"].setdefault(
            key, {"label": label, "unit": unit, "higher_is_better": higher_is_better,
                  "peers": {}})
        summary = {**stats.summarize(values), "values": [round(v, 4) for v in values]}
        m["peers"][peer] = summary
        self.log(f"  [{peer}] {label}: median {summary['median']:.3f} {unit} "
                 f"(p10 {summary['p10']:.3f}, p90 {summary['p90']:.3f}, n={summary['n']})")
        return summary

    def value(self, key: str, label: str, unit: str, peer: str, x, y) -> None:
        """Record one point (x, y) of a curve for one peer (scale checkpoints, sizes)."""
        s = self.result["series"].setdefault(key, {"label": label, "unit": unit, "peers": {}})
        s["peers"].setdefault(peer, []).append([x, y])

    def curve(self, key: str, label: str, unit: str, peer: str, ys: list[float],
              xlabel: str = "operation #") -> None:
        """Record a per-operation cost curve (one y per operation) for the plots."""
        c = self.result["curves"].setdefault(key, {"label": label, "unit": unit,
                                                   "xlabel": xlabel, "peers": {}})
        c["peers"][peer] = [round(y, 4) for y in ys]

    def median_of(self, key: str, peer: str) -> float | None:
        """The recorded median of a metric for a peer, or None."""
        return self.result["metrics"].get(key, {}).get("peers", {}).get(peer, {}).get("median")

    def goal(self, text: str, value: float | None, limit: float, higher_is_better=False,
             detail: str = "", measured: bool = True) -> None:
        """Record a goal: met if value is within limit, missed if not, else not measured."""
        if value is None or not measured:
            status = "not measured"
        elif (value >= limit) if higher_is_better else (value <= limit):
            status = "met"
        else:
            status = "missed"
        self.result["goals"].append({"goal": text, "status": status, "value": value,
                                     "limit": limit, "detail": detail})
        self.log(f"  GOAL {status.upper()}: {text} (value {value}, limit {limit}) {detail}")

    def note(self, text: str) -> None:
        """A free-text note shown under the scenario's table."""
        self.result["notes"].append(text)
