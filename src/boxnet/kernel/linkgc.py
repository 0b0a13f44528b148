"""Deferred link deletion: the slow half of a teardown, off the request path.

Why: deleting a link costs 15-20 ms for a veth and 25-60 ms for a bridge on
this kernel, nearly all of it waiting in ``netdev_run_todo`` (rcu_barrier and
RCU grace periods under RTNL), and batching does not help.  Nothing an API
answer shows depends on that wait, so a removal first makes the link inert
(down: no route, no traffic; a retired bridge is also renamed so its name is
free at once) and this module finishes the deletion in the background, as
Docker's libnetwork garbage-collects sandboxes.

Netlink requests run synchronously inside sendmsg(2), in the sending thread:
sent from the event loop, a deletion would block the loop for its whole wait.
So deletions run in worker threads, each with a plain rtnetlink socket opened
in the event loop's thread (a socket belongs to the netns it was made in).

Every pending job is tracked; ``drain`` awaits them (daemon shutdown).  A job
that fails only logs: what it leaves has a garbage name (``bxgc-*``) or an
orphan veth name, and the daemon's start-up reconciliation removes both.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import struct
import time
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

QUIET = 0.05               # s without other netlink work before a deletion starts
MAX_DEFER = 2.0            # s: under constant load a deletion waits no longer than this
GARBAGE_PREFIX = "bxgc-"   # a retired link waiting for deletion (<= 15 chars with 10 hex)
RTM_DELLINK = 17
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
IFLA_IFNAME = 3
_HDR = struct.Struct("=IHHII")     # nlmsghdr
_IFI = struct.Struct("=BxHiII")    # ifinfomsg


def garbage_name() -> str:
    """A fresh name for a link that is being deleted in the background."""
    return GARBAGE_PREFIX + os.urandom(5).hex()


def is_garbage(name: str) -> bool:
    """True for a link boxnet retired (left over only if a deletion failed or crashed)."""
    return name.startswith(GARBAGE_PREFIX)


def _dellink_message(name: str, seq: int) -> bytes:
    raw = name.encode() + b"\0"
    attr = struct.pack("=HH", 4 + len(raw), IFLA_IFNAME) + raw
    attr += b"\0" * (-len(attr) % 4)
    body = _IFI.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr
    return _HDR.pack(_HDR.size + len(body), RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def delete_link_blocking(sock: socket.socket, name: str) -> None:
    """RTM_DELLINK ``name`` on an rtnetlink socket and wait for the ack (blocking).

    No error if the link is already gone (ENODEV); OSError otherwise.
    """
    seq = int.from_bytes(os.urandom(4), "little") or 1
    sock.send(_dellink_message(name, seq))
    while True:
        data = sock.recv(65536)
        off = 0
        while off + _HDR.size <= len(data):
            length, kind, _flags, mseq, _pid = _HDR.unpack_from(data, off)
            if kind == NLMSG_ERROR and mseq == seq:
                (code,) = struct.unpack_from("=i", data, off + _HDR.size)
                if code == 0 or -code in (errno.ENODEV, errno.ENOENT):
                    return
                raise OSError(-code, f"cannot delete interface {name}: {os.strerror(-code)}")
            off += max(length + (-length % 4), _HDR.size)


def _rtnl_socket() -> socket.socket:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                      socket.NETLINK_ROUTE)
    s.settimeout(30)
    return s


class LinkGc:
    """Background deletions of host links, tracked until done."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()
        self._serial = asyncio.Lock()       # one deletion at a time: they contend anyway
        self._last_removal = 0.0

    def touch(self) -> None:
        """Netlink work for a request is going on: deletions wait for a quiet moment.

        Why: a bridge deletion holds RTNL for 13-21 ms of its 35-50 ms, and
        every netlink change of a request being served (the next network of
        a `compose down`, the next connect) would wait behind it.  Deletions
        start once the daemon made no netlink change for QUIET seconds, or
        MAX_DEFER seconds after they were asked for under constant load."""
        self._last_removal = time.monotonic()

    async def _quiet(self, since: float) -> None:
        while (wait := QUIET - (time.monotonic() - self._last_removal)) > 0:
            if time.monotonic() - since > MAX_DEFER:
                return
            await asyncio.sleep(wait)

    @property
    def pending(self) -> int:
        """Jobs not finished yet."""
        return len(self._tasks)

    def _track(self, what: str, coro: Awaitable) -> asyncio.Task:
        async def job():
            try:
                await coro
            except Exception as e:  # noqa: BLE001 - a background job only reports
                log.warning("background teardown of %s failed: %s (removed at next start)",
                            what, e)
        task = asyncio.get_running_loop().create_task(job())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _delete(self, name: str) -> None:
        since = time.monotonic()
        async with self._serial:
            await self._quiet(since)
            sock = _rtnl_socket()   # made here, in the loop's thread: the daemon's netns
            try:
                await asyncio.to_thread(delete_link_blocking, sock, name)
            finally:
                sock.close()

    def delete_now(self, name: str) -> asyncio.Task:
        """Delete host link ``name`` in a worker thread at once (no quiet wait, no
        queue behind other deletions); returns the tracking task.  For a link
        whose disappearance a request waits for: the kernel unlists it within a
        few ms, while the whole deletion takes 15-20 ms."""
        async def delete():
            sock = _rtnl_socket()   # made here, in the loop's thread: the daemon's netns
            try:
                await asyncio.to_thread(delete_link_blocking, sock, name)
            finally:
                sock.close()
        return self._track(name, delete())

    def delete_later(self, name: str) -> asyncio.Task:
        """Delete host link ``name`` in a worker thread; returns the tracking task."""
        self.touch()
        return self._track(name, self._delete(name))

    def reap_when_gone(self, names: list[str], exists: Callable[[str], Awaitable[bool]],
                       grace: float = 3.0) -> asyncio.Task:
        """Host veths whose peer netns was just released die with that netns.

        The kernel destroys an unpinned netns in its own cleanup work, and
        with it every veth pair with an end inside.  Should the netns stay
        alive (something still holds it, e.g. a copy of its pin in another
        mount namespace), the host ends are deleted after ``grace`` seconds,
        with a warning, so nothing dangles on a bridge.
        """
        self.touch()

        async def watch():
            deadline = time.monotonic() + grace
            left = list(names)
            delay = 0.05
            while left and time.monotonic() < deadline:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                left = [n for n in left if await exists(n)]
            for n in left:
                log.warning("veth %s still there %.0f s after its sandbox was released "
                            "(its netns is held elsewhere): deleting it", n, grace)
                await self._delete(n)
        return self._track(", ".join(names), watch())

    async def settle(self, timeout: float = 5.0) -> int:
        """Wait for the jobs pending now to finish (none is cancelled); how many are left.

        For the daemon's start: the links its reconciliation retired are gone
        before its API answers, so nothing it no longer wants is still seen
        (e.g. a retired veth end, renamed, in a container that stays up)."""
        if not self._tasks:
            return 0
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return len(pending)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for every pending job (at shutdown); give up after ``timeout``."""
        if self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for t in pending:
                t.cancel()
