"""After a daemon restart: which recorded processes are still the
containers', and their network namespaces pinned again from them.

Two records make this safe (model/container.py):

* a container's process is recorded with its identity (PID, start time and
  boot id, kernel/procid.py) when it starts.  A recorded PID is trusted
  again (adopted, signalled, re-pinned) only when all three still match: a
  PID recycled by another process, or one from before a reboot, is never
  touched; its container is simply marked exited.
* a sandbox's netns is recorded by inode (st_dev, st_ino) when it is
  created.  When its pin is gone but the process lives, e.g. the daemon ran
  in a private mount namespace (systemd's ``PrivateMounts=``) and its pins
  went with it, the namespace is pinned again from ``/proc/PID/ns/net`` at
  the same path, and only if it is that very namespace.  The container keeps
  running: its endpoints, resolver and ports are restored as usual.

A sandbox's namespace may be held by more processes than its owner's: the
containers started with ``--network container:<owner>`` live in it too.  If
the owner's process is gone but a sharer's is not, the namespace is pinned
from the sharer so that the owner's teardown finds it (its endpoints are then
deleted as when the owner exits under a running daemon).

Records written before identities existed (boot id "") are left to the
runtime's own check (runc's recorded start time) and completed once adopted.
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import KernelError
from ..kernel import netns as kns
from ..kernel import procid
from ..model import Container
from . import netmode

log = logging.getLogger(__name__)


def record_process(c: Container) -> None:
    """Record who ``c.pid`` is (start time, boot id); call right after the start.

    Why right after: the runtime has just handed over the init's PID, with a
    pidfd opened while the init was boxnet-supervisor's unreaped child; for
    a recycled PID to be read here the init would have to exit, be reaped and
    the whole PID space wrap around in the microseconds in between.  A
    process already gone gets start time 0: the record then names nobody."""
    ident = procid.identify(c.pid)
    c.pid_start = ident.start_time if ident else 0
    c.boot_id = ident.boot_id if ident else procid.boot_id()


def forget_process(c: Container) -> None:
    """The container's process is gone: its identity names nobody any more."""
    c.pid_start, c.boot_id = 0, ""


def record_netns(c: Container) -> None:
    """Record the inode of the sandbox's netns; call right after it is created."""
    found = kns.netns_identity(c.sandbox_key) if c.sandbox_key else None
    c.netns_dev, c.netns_ino = found or (0, 0)


def forget_netns(c: Container) -> None:
    """The sandbox's netns is released."""
    c.netns_dev, c.netns_ino = 0, 0


def is_legacy(c: Container) -> bool:
    """A running container recorded before process identities existed."""
    return bool(c.pid) and not c.boot_id


def process_alive(c: Container) -> bool:
    """Whether ``c.pid`` is still the process recorded for ``c`` (False for a
    legacy record: only the runtime's own check can vouch for it)."""
    return bool(c.pid) and procid.is_alive(c.pid, c.pid_start, c.boot_id)


def may_adopt(c: Container) -> bool:
    """Whether the runtime may be asked to adopt ``c``'s recorded PID.

    A recycled or pre-reboot PID is refused here, before the runtime opens a
    pidfd on it or signals it."""
    if is_legacy(c):
        return True
    if process_alive(c):
        return True
    log.info("container %s: process %d is gone (or its pid now belongs to another "
             "process): not adopted", c.name, c.pid)
    return False


def adopted(c: Container) -> None:
    """The runtime adopted ``c`` (its own check vouched for the PID): complete
    a legacy record's identity."""
    if is_legacy(c):
        record_process(c)


def _expected_netns(c: Container) -> tuple[int, int] | None:
    return (c.netns_dev, c.netns_ino) if c.netns_ino else None


def _sharers(ctl, c: Container) -> list[Container]:
    """Containers recorded running in ``c``'s namespace (``container:<c>``) whose
    process is still theirs."""
    mode = netmode.PREFIX + c.id
    return [o for o in ctl.containers.values()
            if o.id != c.id and o.status == "running" and o.config.network_mode == mode
            and process_alive(o)]


async def _repin_from(c: Container, source: Container) -> bool:
    try:
        found = await asyncio.to_thread(
            kns.repin_from_process, c.sandbox_key, source.pid,
            lambda: process_alive(source),
            _expected_netns(c))
    except KernelError as exc:
        log.warning("container %s: netns not pinned from process %d: %s",
                    c.name, source.pid, exc.message)
        return False
    if not c.netns_ino:   # a legacy record: the namespace is the process's
        c.netns_dev, c.netns_ino = found
    log.warning("container %s: the pin of its netns was gone; pinned again from "
                "process %d%s (netns inode %d)", c.name, source.pid,
                "" if source is c else f" of {source.name}", found[1])
    return True


async def recover_netns(ctl, c: Container) -> bool:
    """Pin again the netns of the adopted container ``c`` from its process;
    True when its sandbox is whole again (also when the pin was not gone)."""
    if not c.sandbox_key or kns.netns_exists(c.sandbox_key):
        return True
    return await _repin_from(c, c)


async def recover_for_teardown(ctl, c: Container) -> None:
    """``c``'s process is gone: if its pin is gone too but a sharer still holds
    the namespace, pin it from the sharer, so the teardown deletes its
    endpoints in the namespace that outlives it."""
    if not c.sandbox_key or kns.netns_exists(c.sandbox_key):
        return
    for o in _sharers(ctl, c):
        if await _repin_from(c, o):
            return
