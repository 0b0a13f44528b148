"""A netlink multicast subscription read by the event loop into a bounded
queue: what kernel/conntrack.py's events and kernel/nflog.py's drop log share.

The socket is non-blocking and read on readiness (`add_reader`): every
datagram is decoded at once (by the caller's `decode`) and its records put
on a queue of at most `maxsize` datagrams. Nothing here may grow without
bound when the reader falls behind, so a record is lost in two places,
both counted in `lost` (reported by the flows API):

* the kernel's socket buffer overflowed (ENOBUFS on recv): the kernel does
  not say how many messages it dropped, so one overflow counts 1;
* the queue is full (the daemon's consumer is behind): every record of the
  datagram counts.

A datagram that cannot be decoded is skipped and logged, never fatal.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_MAXSIZE = 4096   # datagrams (each up to 64 KiB of messages)


class Subscription(Generic[T]):
    """An open netlink subscription; iterate with `async for rec in sub`;
    `lost` counts the records dropped (see the module docstring)."""

    def __init__(self, sock: socket.socket, decode: Callable[[bytes], list[T]], what: str,
                 maxsize: int = DEFAULT_MAXSIZE):
        """Read `sock` (made non-blocking here) in the running loop, each
        datagram through `decode`; `what` names it in log lines."""
        self._sock = sock
        self._decode = decode
        self._what = what
        self._queue: asyncio.Queue[list[T]] = asyncio.Queue(maxsize=maxsize)
        self.lost = 0
        self._loop = asyncio.get_running_loop()
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                buf = self._sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:   # the kernel dropped messages: go on
                    self.lost += 1
                    continue
                log.warning("%s: %s", self._what, e)
                return
            try:
                recs = self._decode(buf)
            except Exception as e:   # a message we cannot decode: skip it, say so
                log.warning("%s: undecodable message: %s", self._what, e)
                continue
            if not recs:
                continue
            if self._queue.full():
                self.lost += len(recs)
            else:
                self._queue.put_nowait(recs)

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            for rec in await self._queue.get():
                yield rec

    def close(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
