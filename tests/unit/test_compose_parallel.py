"""compose/parallel.py: results in order, calls really overlap, every call runs before
the first error (in the items' order) is raised, as ThreadPoolExecutor.map does."""

from __future__ import annotations

import threading
import time

import pytest

from boxnet.compose import parallel


def test_results_in_order_and_one_item_runs_inline():
    assert parallel.each(lambda x: x * 2, [3, 1, 2]) == [6, 2, 4]
    assert parallel.each(lambda x: threading.current_thread(), [0]) == \
        [threading.current_thread()]
    assert parallel.each(lambda x: x, []) == []


def test_calls_overlap():
    barrier = threading.Barrier(3, timeout=10)
    assert parallel.each(lambda x: barrier.wait() is not None, range(3)) == [True] * 3


def test_all_calls_finish_then_the_first_error_is_raised():
    done = []

    def fn(x):
        if x in (1, 2):
            time.sleep(0.05 * (3 - x))
            raise ValueError(f"bad {x}")
        time.sleep(0.1)
        done.append(x)

    with pytest.raises(ValueError, match="bad 1"):
        parallel.each(fn, range(5), max_workers=2)
    assert sorted(done) == [0, 3, 4]
