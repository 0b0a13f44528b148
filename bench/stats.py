"""Summary statistics for repeated measurements: median, p10/p90, spread and ratios.

Percentiles use linear interpolation between closest ranks (numpy's default), so that small
samples (3 to 20 repetitions) give stable, reproducible numbers without numpy itself.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence


def _clean(values: Iterable[float]) -> list[float]:
    out = sorted(float(v) for v in values if v is not None and not math.isnan(float(v)))
    if not out:
        raise ValueError("no values to summarise")
    return out


def percentile(values: Iterable[float], q: float) -> float:
    """Return the q-th percentile (0..100) of values, linear interpolation between ranks."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0..100")
    xs = _clean(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Iterable[float]) -> float:
    """Return the median of values."""
    return percentile(values, 50.0)


def p10(values: Iterable[float]) -> float:
    """Return the 10th percentile of values."""
    return percentile(values, 10.0)


def p90(values: Iterable[float]) -> float:
    """Return the 90th percentile of values."""
    return percentile(values, 90.0)


def spread(values: Iterable[float]) -> float:
    """Relative spread: (p90 - p10) / median; 0 for a single value, inf if the median is 0."""
    xs = _clean(values)
    m = median(xs)
    width = p90(xs) - p10(xs)
    if m == 0:
        return 0.0 if width == 0 else math.inf
    return width / abs(m)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either side is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def summarize(values: Sequence[float]) -> dict:
    """Return {n, median, p10, p90, spread, min, max} for a list of measurements."""
    xs = _clean(values)
    return {
        "n": len(xs),
        "median": median(xs),
        "p10": p10(xs),
        "p90": p90(xs),
        "spread": spread(xs),
        "min": xs[0],
        "max": xs[-1],
    }


def window_ratio(values: Sequence[float], window: int = 10) -> float | None:
    """Median of the last `window` values over the median of the first `window` values.

    Used for "per-operation cost stays flat": None when fewer than 2*window values exist
    (the windows would overlap and the comparison would mean nothing).
    """
    if len(values) < 2 * window:
        return None
    return ratio(median(values[-window:]), median(values[:window]))
