"""Pinned network namespaces: create, delete, list, run code inside."""

import os
import threading

import pytest

from boxnet.errors import KernelError
from boxnet.kernel import netns


def _my_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def _ino(path: str) -> int:
    return os.stat(path).st_ino


def test_create_pins_a_new_netns_without_moving_the_caller(tmp_path):
    path = str(tmp_path / "sub" / "bxt-a")
    before = _my_netns()
    netns.create_netns(path)
    try:
        assert _my_netns() == before
        assert netns.netns_exists(path)
        assert _ino(path) != os.stat("/proc/self/ns/net").st_ino
        assert netns.list_pinned(str(tmp_path / "sub")) == [path]
        with pytest.raises(KernelError):
            netns.create_netns(path)
    finally:
        netns.delete_netns(path)
    assert not os.path.exists(path)
    assert not netns.netns_exists(path)
    netns.delete_netns(path)  # idempotent


def test_list_pinned_ignores_plain_files(tmp_path, make_netns):
    (tmp_path / "plain").write_text("x")
    assert netns.list_pinned(str(tmp_path)) == []
    assert netns.list_pinned(str(tmp_path / "absent")) == []
    assert not netns.netns_exists(str(tmp_path / "plain"))


def test_run_in_netns_runs_inside_and_returns(make_netns):
    a, b = make_netns(), make_netns()
    inside = netns.run_in_netns(a, lambda: os.stat("/proc/thread-self/ns/net").st_ino)
    assert inside == _ino(a)
    assert netns.run_in_netns(b, lambda x, y=0: x + y, 2, y=3) == 5
    # nested: a job may itself enter another netns
    nested = netns.run_in_netns(a, lambda: netns.run_in_netns(b, lambda: _my_netns()))
    assert nested == f"net:[{_ino(b)}]"
    with pytest.raises(ZeroDivisionError):
        netns.run_in_netns(a, lambda: 1 / 0)
    assert netns.run_in_netns(a, _my_netns) == f"net:[{_ino(a)}]"


def test_run_in_missing_netns_raises(tmp_path):
    with pytest.raises(OSError):
        netns.run_in_netns(str(tmp_path / "nope"), lambda: 1)


async def test_arun_in_netns(make_netns):
    a = make_netns()
    assert await netns.arun_in_netns(a, _my_netns) == f"net:[{_ino(a)}]"
    assert _my_netns() != f"net:[{_ino(a)}]"


def test_create_from_many_threads(tmp_path):
    paths = [str(tmp_path / f"bxt-t{i}") for i in range(8)]
    errors = []

    def go(p):
        try:
            netns.create_netns(p)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=go, args=(p,)) for p in paths]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len({_ino(p) for p in paths}) == 8
    finally:
        for p in paths:
            netns.delete_netns(p)
