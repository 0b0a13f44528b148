"""Wait for the kernel to unlist a link: its RTM_DELLINK broadcast.

Why: a link deletion is acknowledged only after ``netdev_run_todo`` (15-20 ms
of RCU waits for a veth, kernel/linkgc.py), but the link is unlisted (gone
from every lookup, its name free, a veth's peer with it: both ends go in
one unregister batch) a few ms in, when the kernel broadcasts RTM_DELLINK to
the RTNLGRP_LINK group.  A disconnect answers at that moment.  Listening
for the broadcast ends the wait when it happens; polling with lookups
overshot by up to the poll interval (up to 4 ms of a ~3 ms wait).

The watch is a plain rtnetlink socket subscribed to the link group, opened
in the event loop's thread (the daemon's netns: where the host end lives)
before the deletion is sent, so the broadcast cannot be missed.  It lives
for one wait; a busy daemon's other link events are read and skipped.
"""

from __future__ import annotations

import asyncio
import socket
import struct

RTMGRP_LINK = 0x1
RTM_DELLINK = 17
_HDR = struct.Struct("=IHHII")     # nlmsghdr
_IFI = struct.Struct("=BxHiII")    # ifinfomsg
RCVBUF = 1 << 20                   # room for a burst of other links' events


def open_watch() -> socket.socket:
    """A non-blocking rtnetlink socket that receives the link group's events."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC
                      | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        s.bind((0, RTMGRP_LINK))
    except OSError:
        s.close()
        raise
    return s


def has_dellink(data: bytes, index: int) -> bool:
    """Whether the netlink datagram ``data`` holds an RTM_DELLINK of link ``index``."""
    off = 0
    while off + _HDR.size + _IFI.size <= len(data):
        length, kind = _HDR.unpack_from(data, off)[:2]
        if length < _HDR.size:
            return False    # malformed: nothing more can be read safely
        if kind == RTM_DELLINK and _IFI.unpack_from(data, off + _HDR.size)[2] == index:
            return True
        off += length + (-length % 4)
    return False


async def wait_unlisted(sock: socket.socket, index: int, deletion: asyncio.Future,
                        timeout: float = 5.0) -> bool:
    """Wait until the kernel broadcasts the deletion of link ``index`` on the
    watch ``sock`` (True), or ``deletion`` (the request's task) ends first.

    False when the answer is not known from the watch: the deletion ended
    without the broadcast being read (e.g. the link was gone already), the
    socket overflowed (ENOBUFS: events were lost), or ``timeout`` passed;
    the caller then looks the link up itself."""
    loop = asyncio.get_running_loop()
    seen = loop.create_future()

    def settle(value: bool) -> None:
        if not seen.done():
            seen.set_result(value)

    def readable() -> None:
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:   # ENOBUFS: events lost, the broadcast may be among them
                settle(False)
                return
            if has_dellink(data, index):
                settle(True)
                return

    def ended(_task: asyncio.Future) -> None:
        readable()        # a broadcast already queued counts
        settle(False)

    loop.add_reader(sock.fileno(), readable)
    deletion.add_done_callback(ended)
    try:
        return await asyncio.wait_for(asyncio.shield(seen), timeout)
    except asyncio.TimeoutError:
        return False
    finally:
        deletion.remove_done_callback(ended)
        loop.remove_reader(sock.fileno())
