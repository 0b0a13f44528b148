"""Unit tests of the benchmark's statistics and ratio code (bench/stats.py)."""

import math

import pytest

from bench import stats


def test_median_odd_and_even():
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5


def test_percentiles_interpolate_like_numpy():
    xs = list(range(1, 11))  # 1..10
    assert stats.p10(xs) == pytest.approx(1.9)
    assert stats.p90(xs) == pytest.approx(9.1)
    assert stats.percentile(xs, 0) == 1
    assert stats.percentile(xs, 100) == 10


def test_percentile_single_value_and_bounds():
    assert stats.percentile([7.5], 90) == 7.5
    with pytest.raises(ValueError):
        stats.percentile([1, 2], 101)
    with pytest.raises(ValueError):
        stats.median([])


def test_nan_is_ignored():
    assert stats.median([1.0, float("nan"), 3.0]) == 2.0


def test_spread_is_relative_width():
    xs = list(range(1, 11))
    assert stats.spread(xs) == pytest.approx((9.1 - 1.9) / 5.5)
    assert stats.spread([5, 5, 5]) == 0.0
    assert stats.spread([0, 0]) == 0.0
    assert math.isinf(stats.spread([-1, 0, 1]))  # median 0, width > 0


def test_ratio_and_missing_values():
    assert stats.ratio(3.0, 2.0) == 1.5
    assert stats.ratio(None, 2.0) is None
    assert stats.ratio(1.0, None) is None
    assert stats.ratio(1.0, 0) is None


def test_summarize_keys_and_values():
    s = stats.summarize([10, 20, 30, 40, 50])
    assert s["n"] == 5 and s["median"] == 30 and s["min"] == 10 and s["max"] == 50
    assert s["p10"] == pytest.approx(14.0) and s["p90"] == pytest.approx(46.0)
    assert s["spread"] == pytest.approx(32.0 / 30.0)


def test_window_ratio_flatness():
    flat = [1.0] * 10 + [5.0] * 30 + [1.1] * 10
    assert stats.window_ratio(flat, 10) == pytest.approx(1.1)
    assert stats.window_ratio([1.0] * 19, 10) is None


def test_goal_status_from_context():
    from bench.context import Context
    ctx = Context(quick=True, log=lambda *_: None)
    ctx.begin("t", "t")
    ctx.goal("lower is better", 1.4, 1.5)
    ctx.goal("lower is better, missed", 1.6, 1.5)
    ctx.goal("higher is better", 0.96, 0.95, higher_is_better=True)
    ctx.goal("not measured", None, 1.0)
    assert [g["status"] for g in ctx.result["goals"]] == ["met", "missed", "met", "not measured"]


def test_report_renders_ratio_boxnet_over_peer(tmp_path):
    from bench import report
    from bench.context import Context
    ctx = Context(quick=True, log=lambda *_: None)
    sc = ctx.begin("t", "T")
    ctx.metric("attach", "attach", "ms", "boxnet", [2.0, 2.0, 2.0])
    ctx.metric("attach", "attach", "ms", "docker", [8.0, 8.0, 8.0])
    md = report.write({"meta": {"date": "d", "quick": True, "machine": "m", "versions": {}},
                       "scenarios": {"t": sc}}, tmp_path).read_text()
    assert "| attach (ms) | docker | 8.00 | 8.00 | 8.00 | 0% | 3 | 0.25 |" in md
    assert (tmp_path / "latest.json").exists()
