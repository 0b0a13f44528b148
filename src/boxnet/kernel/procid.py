"""Who a recorded PID is: the identity of a process across daemon restarts.

A PID alone names nobody for long: once its process is reaped the kernel
hands the number to the next fork.  A process is named for good by three
things the kernel keeps for its whole life:

* its PID;
* its start time, field 22 of ``/proc/PID/stat`` (clock ticks since boot):
  a recycled PID belongs to a process started later, with another value;
* the boot it lives in (``/proc/sys/kernel/random/boot_id``, a random UUID
  per boot): start times restart from zero at every boot, so a PID and a
  start time recorded before a reboot may match a new process by chance.

The daemon records all three when a container starts and trusts a recorded
PID again (to signal it, adopt it, or re-pin its network namespace) only when
they all match.
"""

from __future__ import annotations

import functools

import msgspec

from .process import proc_start_time

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


class ProcessIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """A process named for good: PID, start time (clock ticks), boot id."""

    pid: int
    start_time: int
    boot_id: str


@functools.cache
def boot_id() -> str:
    """This boot's id (constant until the machine reboots, so read once)."""
    with open(BOOT_ID_PATH) as f:
        return f.read().strip()


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of the living process `pid` now; None if there is none."""
    if pid <= 0:
        return None
    start = proc_start_time(pid)
    if start is None:
        return None
    return ProcessIdentity(pid=pid, start_time=start, boot_id=boot_id())


def is_alive(pid: int, start_time: int, boot: str) -> bool:
    """Whether `pid` is still the process that was recorded with `start_time`
    during boot `boot` (False when it is gone, recycled, or from another boot).

    A zombie still counts as alive: its PID cannot be reused until it is reaped."""
    if pid <= 0 or start_time <= 0 or not boot or boot != boot_id():
        return False
    return proc_start_time(pid) == start_time
