"""Shared fixtures: test hosts (netns + boxnetd), outside worlds, leftover check.

Fixtures:
  host         module-scoped TestHost with boxnetd started (one per test module)
  make_host    factory: make_host(*daemon_flags, start=True) -> TestHost, torn down after the test
  outside      factory: outside(host, **kw) -> Outside joined to that host
On a failing test the log tail of every live daemon is attached to the report.
A session-level check fails the run if a netns, mount, dir or process the run
created is still there.
"""

from __future__ import annotations

import os

import pytest

from integration import harness
from integration.outside import Outside


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (netns, veth, nftables, runc)")


@pytest.fixture(scope="session", autouse=True)
def _leftover_check():
    """After the whole run, nothing the run created may remain.  Before it, the
    hosts of an earlier run that died before its teardown are destroyed."""
    if os.geteuid() == 0:
        harness.reap_orphans()
    yield
    for h in list(harness.LIVE_HOSTS):
        h.teardown()
    left = harness.leftovers()
    assert not left, "the test run left objects behind:\n  " + "\n  ".join(left)


def _teardown(h: harness.TestHost) -> None:
    problems = h.teardown()
    assert not problems, f"teardown of {h.name}: {problems}"


@pytest.fixture(scope="module")
def host():
    """A TestHost with boxnetd running, shared by the tests of one module."""
    _require_root()
    h = harness.TestHost()
    try:
        h.start()
        yield h
    finally:
        _teardown(h)


@pytest.fixture
def make_host():
    """Factory for extra TestHosts: make_host(*daemon_flags, start=True)."""
    _require_root()
    made: list[harness.TestHost] = []

    def factory(*flags: str, start: bool = True) -> harness.TestHost:
        """Make one more (see the fixture's docstring)."""
        h = harness.TestHost()
        made.append(h)
        if start:
            h.start(*flags)
        return h

    yield factory
    errors = []
    for h in made:
        errors += h.teardown()
    assert not errors, f"teardown: {errors}"


@pytest.fixture
def outside():
    """Factory: outside(host, host_addr=..., addr=..., host_ifname=...) -> Outside."""
    _require_root()
    made: list[Outside] = []

    def factory(h: harness.TestHost, **kw) -> Outside:
        """Make one more (see the fixture's docstring)."""
        o = Outside(h, **kw)
        made.append(o)
        return o

    yield factory
    for o in made:
        o.teardown()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the daemon logs of live hosts to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and harness.LIVE_HOSTS:
        for h in harness.LIVE_HOSTS:
            rep.sections.append((f"boxnetd log {h.name}", h.log_tail(80)))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the process once the run is reported, even if a test left a thread hung.

    A test body stuck in a non-daemon thread (a hang the test already reported as a
    failure) would otherwise hold the interpreter's exit forever, and the run would
    never end: the failures are printed, the process must still exit with them.
    """
    import sys
    import threading

    stuck = [t for t in threading.enumerate()
             if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if not stuck:
        return
    sys.stdout.flush()
    print(f"boxnet tests: exiting past {len(stuck)} hung thread(s): "
          f"{', '.join(t.name for t in stuck)}", file=sys.stderr, flush=True)
    status = getattr(config, "_boxnet_exitstatus", 1)
    os._exit(int(status))


def pytest_sessionfinish(session, exitstatus):
    """Remember the run's exit status for pytest_unconfigure's forced exit."""
    session.config._boxnet_exitstatus = exitstatus
