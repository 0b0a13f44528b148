"""Process identities (kernel/procid.py) and re-pinning a netns from a living
process (kernel/netns.py repin_from_process), on the real kernel."""

import os
import subprocess
import time

import pytest

from boxnet.errors import KernelError
from boxnet.kernel import netns, procid


@pytest.fixture
def sleeper(make_netns):
    """A `sleep` this test owns inside a netns of its own; (Popen, netns path)."""
    path = make_netns()
    p = subprocess.Popen(["nsenter", f"--net={path}", "sleep", "600"], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while os.stat(f"/proc/{p.pid}/ns/net").st_ino != os.stat(path).st_ino:
        assert time.monotonic() < deadline, "nsenter never entered the netns"
        time.sleep(0.01)
    yield p, path
    p.kill()
    p.wait(10)


def test_identity_names_a_process_for_good(sleeper):
    p, _ = sleeper
    me = procid.identify(p.pid)
    assert me.pid == p.pid and me.start_time > 0 and me.boot_id == procid.boot_id()
    assert procid.is_alive(p.pid, me.start_time, me.boot_id)
    assert not procid.is_alive(p.pid, me.start_time + 1, me.boot_id), "another start time"
    assert not procid.is_alive(p.pid, me.start_time, "another-boot"), "another boot"
    assert not procid.is_alive(p.pid, 0, me.boot_id), "no start time recorded"
    p.kill()
    p.wait(10)
    assert procid.identify(p.pid) is None
    assert not procid.is_alive(p.pid, me.start_time, me.boot_id)


def test_repin_from_a_living_process(tmp_path, sleeper):
    p, path = sleeper
    want = netns.netns_identity(path)
    assert want == (os.stat(path).st_dev, os.stat(path).st_ino)
    pin = str(tmp_path / "netns" / "c1")
    assert netns.netns_identity(pin) is None
    try:
        assert netns.repin_from_process(pin, p.pid, lambda: True, want) == want
        assert netns.netns_exists(pin) and netns.netns_identity(pin) == want
        # the pin holds the namespace: code runs inside it
        inside = netns.run_in_netns(pin, lambda: os.stat("/proc/thread-self/ns/net").st_ino)
        assert inside == want[1]
        assert netns.repin_from_process(pin, p.pid, lambda: True, want) == want  # idempotent
    finally:
        netns.delete_netns(pin)


def test_repin_refused_changes_nothing(tmp_path, sleeper, make_netns):
    p, path = sleeper
    want = netns.netns_identity(path)
    pin = str(tmp_path / "c1")
    cases = {
        "not the recorded process": (p.pid, lambda: False, want),
        "another namespace than the recorded one": (p.pid, lambda: True, (want[0], 1)),
        "the daemon's own namespace": (os.getpid(), lambda: True, None),
    }
    for what, (pid, same, expect) in cases.items():
        with pytest.raises(netns.RepinRefused):
            netns.repin_from_process(pin, pid, same, expect)
        assert not os.path.exists(pin), what
    # recycled between the two checks: the second answer is no
    answers = iter([True, False])
    with pytest.raises(netns.RepinRefused):
        netns.repin_from_process(pin, p.pid, lambda: next(answers), want)
    assert not os.path.exists(pin)
    # a path already pinning another namespace is not replaced
    other = make_netns()
    with pytest.raises(KernelError):
        netns.repin_from_process(other, p.pid, lambda: True, want)
    assert netns.netns_identity(other) != want and netns.netns_exists(other)


def test_list_unpinned_finds_the_files_of_vanished_pins(tmp_path):
    pinned = str(tmp_path / "a")
    netns.create_netns(pinned)
    try:
        (tmp_path / "b").write_text("")
        (tmp_path / "d").mkdir()
        assert netns.list_unpinned(str(tmp_path)) == [str(tmp_path / "b")]
        assert netns.list_pinned(str(tmp_path)) == [pinned]
        assert netns.list_unpinned(str(tmp_path / "absent")) == []
    finally:
        netns.delete_netns(pinned)
