"""The ifindex of a link of the calling thread's netns, without a netlink round trip.

Why: a lookup by name through pyroute2 (RTM_GETLINK and the parse of the whole
answer) costs ~0.4-0.7 ms on the daemon's request paths (a network create asks
whether its bridge exists); ``if_nametoindex`` is one ioctl, ~0.01 ms.  It is
right only for the netns of the calling thread, which for the daemon's host
handle is the event loop's (kernel/netlink.py ``Netlink.open``).
"""

from __future__ import annotations

import socket


def host_index(name: str) -> int | None:
    """The ifindex of ``name`` in the calling thread's netns; None if there is no
    such link (or the name cannot be one)."""
    try:
        return socket.if_nametoindex(name)
    except (OSError, ValueError):
        return None
