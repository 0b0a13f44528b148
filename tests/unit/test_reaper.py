"""kernel/reaper.py: the zombies runc exec's stages leave to the subreaper are
reaped at SIGCHLD; any other child's status is left to whoever waits for it."""

from __future__ import annotations

import asyncio
import os
import time

from boxnet.kernel import reaper


def _child(name: str) -> int:
    """A child process renamed `name` that exits at once."""
    pid = os.fork()
    if pid == 0:   # the child: rename itself, as runc's stages do, and exit
        try:
            with open("/proc/self/comm", "w") as f:
                f.write(name)
        finally:
            os._exit(3)
    return pid


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] == "Z"


def _wait_zombie(pid: int) -> None:
    deadline = time.monotonic() + 10
    while not _is_zombie(pid):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_runc_stage_zombies_are_reaped_others_are_left():
    stage1, stage2, other = _child("runc:[1:CHILD]"), _child("runc:[2:INIT]"), _child("probe")
    for pid in (stage1, stage2, other):
        _wait_zombie(pid)
    assert reaper.reap_runc_leftovers() == 2
    assert not os.path.exists(f"/proc/{stage1}") and not os.path.exists(f"/proc/{stage2}")
    assert _is_zombie(other)                       # not runc's: its status is still there
    assert os.waitpid(other, 0)[1] >> 8 == 3


async def test_installed_handler_reaps_at_sigchld():
    loop = asyncio.get_running_loop()
    assert reaper.install(loop)
    try:
        pid = _child("runc:[1:CHILD]")
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}"):
            assert time.monotonic() < deadline, "not reaped at SIGCHLD"
            await asyncio.sleep(0.01)
    finally:
        reaper.uninstall(loop)
