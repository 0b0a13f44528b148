"""Late netlink replies that pyroute2 would keep for ever: dropped on arrival.

Why: pyroute2 0.9.7 (``AsyncIPRoute``) reads a request's answers from a queue
per sequence number and frees that queue as soon as it has what it wants.
The kernel often sends one more message after that: the ACK that follows the
answer of a ``get`` (pyroute2 asks for one, NLM_F_ACK) and, on a handle with
``nlm_echo``, the ACK that follows the echo of a change.  A message for a
freed sequence number goes to the root queue (tag 0), which only a socket
bound to multicast groups ever reads.  boxnet never binds its handles to
groups (kernel/netlink.py), so that queue only grew: ~36-byte ACKs and whole
link dumps, a few per operation, about 30 MiB of daemon RSS per 1000
network create/connect/disconnect/rm cycles (bench/scenarios/churn.py).
"""

from __future__ import annotations

from pyroute2.netlink.core import CoreMessageQueue


class _RequestRepliesOnly(CoreMessageQueue):
    """A message queue that keeps only what a pending request will read."""

    def put_nowait(self, tag, message):
        """Queue ``message`` for request ``tag``; drop it if no request waits for it."""
        q = self.queues.get(tag) if tag else None
        if q is not None:
            q.put_nowait(message)

    async def put(self, tag, message):
        """As put_nowait (the queues are unbounded: it never waits)."""
        self.put_nowait(tag, message)


def drop_late_replies(ipr) -> None:
    """Make handle ``ipr`` (set up, used from this thread) drop replies nobody awaits.

    Never for a handle bound to multicast groups: its events arrive on tag 0.
    """
    q = ipr.msg_queue
    if type(q) is CoreMessageQueue:
        q.__class__ = _RequestRepliesOnly
