"""Fixtures for kernel tests: throwaway netns named bxt-<random>, always deleted.

A test "host" netns stands in for the netns boxnetd runs in; test code that
must run "on the host" runs in a thread setns'd into it (``in_netns``).
"""

import asyncio
import os
import subprocess
import threading
import uuid

import pytest

from boxnet.kernel import netns

NETNS_DIR = "/run/netns"


def pytest_collection_modifyitems(items):
    for item in items:
        if os.path.basename(str(item.fspath)).startswith("test_kernel_"):
            item.add_marker(pytest.mark.kernel)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="kernel tests need root"))


@pytest.fixture
def make_netns():
    """Factory: make_netns() -> path of a new pinned netns /run/netns/bxt-<random>."""
    made: list[str] = []

    def make() -> str:
        path = os.path.join(NETNS_DIR, f"bxt-{uuid.uuid4().hex[:10]}")
        netns.create_netns(path)
        made.append(path)
        return path

    yield make
    for path in reversed(made):
        netns.delete_netns(path)
    left = [p for p in made if os.path.exists(p)]
    assert not left, f"netns left behind: {left}"


@pytest.fixture
def host_ns(make_netns):
    """A throwaway netns playing the daemon's host netns."""
    return make_netns()


def in_netns(path, fn, *args, timeout=60):
    """Run fn(*args) (a coroutine function is run with asyncio.run) in a thread inside path."""
    box = {}

    def target():
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                netns.setns_fd(fd)
            finally:
                os.close(fd)
            res = fn(*args)
            if asyncio.iscoroutine(res):
                res = asyncio.run(res)
            box["r"] = res
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            box["e"] = e

    t = threading.Thread(target=target, name="bxt-host", daemon=True)   # a hang must not hold exit
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "test body in netns timed out"
    if "e" in box:
        raise box["e"]
    return box.get("r")


def sh(path, *cmd, check=True):
    """Run cmd inside netns path (nsenter --net) and return its stdout."""
    p = subprocess.run(["nsenter", f"--net={path}", *cmd], capture_output=True, text=True,
                       timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed in {path}: {p.stdout}{p.stderr}")
    return p.stdout


def ping(path, ip) -> bool:
    """True if one ping from inside netns path to ip gets an answer."""
    p = subprocess.run(["nsenter", f"--net={path}", "ping", "-c1", "-W1", ip],
                       capture_output=True, text=True, timeout=30)
    return p.returncode == 0


@pytest.fixture(name="in_netns")
def _in_netns_fixture():
    """The in_netns helper as a fixture."""
    return in_netns


@pytest.fixture(name="sh")
def _sh_fixture():
    """The sh helper as a fixture."""
    return sh


@pytest.fixture(name="ping")
def _ping_fixture():
    """The ping helper as a fixture."""
    return ping
