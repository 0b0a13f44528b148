"""Bridges between aiohttp streams and the blocking tar code of runtime/ (which
runs in a worker thread so the event loop keeps answering).

- `stream_from_thread`: the thread's chunks are written to the response one at
  a time; the thread waits until each was handed to the transport, so a slow
  client slows the producer instead of filling memory.
- `BodyReader`: a blocking file object over a request body, for tarfile in a
  thread; each read waits for the event loop to deliver the bytes.
"""

from __future__ import annotations

import asyncio
import queue
from typing import Callable

from aiohttp import web

HANDOVER = 1 << 20   # bytes of body handed to the thread at once
WRITE_TIMEOUT = 300   # s a client may leave a chunk untaken before the copy is abandoned


async def stream_from_thread(request: web.Request, resp: web.StreamResponse,
                             produce: Callable[[Callable[[bytes], None]], object]) -> object:
    """Run `produce(push)` in a thread; each push(chunk) is written to `resp`
    (prepared here if it is not).  Returns what produce returned."""
    loop = asyncio.get_running_loop()
    if not resp.prepared:
        await resp.prepare(request)

    def push(chunk: bytes) -> None:
        asyncio.run_coroutine_threadsafe(resp.write(chunk), loop).result(WRITE_TIMEOUT)

    result = await asyncio.to_thread(produce, push)
    await resp.write_eof()
    return result


class BodyReader:
    """A blocking, read-only file object over `request.content` (use it from a
    worker thread only).  A task on the event loop reads the body and hands it
    over in batches of HANDOVER bytes through a queue of at most QUEUED
    batches, so the thread's reads are not each a round trip to the loop.

    Why so few queued: while the loop has room to fill it keeps reading the
    client's bytes, holding the GIL the extracting thread needs again after
    each of its system calls (up to 5 ms each time: a convoy); a short queue
    leaves the loop idle, and the client waits in the socket's backpressure."""

    QUEUED = 2

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop):
        """Start reading the body on `loop` (the request's event loop)."""
        self.content = request.content
        self.loop = loop
        self.total = 0
        self._q: queue.Queue = queue.Queue()
        self._room = asyncio.Event()
        self._room.set()
        self._buf = b""
        self._eof = False
        self._task = loop.create_task(self._pump())

    async def _put(self, data: bytes) -> None:
        while self._q.qsize() >= self.QUEUED:
            self._room.clear()
            if self._q.qsize() >= self.QUEUED:
                await self._room.wait()
        self._q.put(data)

    async def _pump(self) -> None:
        try:
            pending: list[bytes] = []
            size = 0
            while True:
                chunk = await self.content.readany()
                if chunk:
                    pending.append(chunk)
                    size += len(chunk)
                if pending and (size >= HANDOVER or not chunk or self.content.is_eof()):
                    data = b"".join(pending)
                    pending, size = [], 0
                    await self._put(data)
                if not chunk:
                    break
        finally:
            self._q.put(b"")   # unbounded: the end always gets through

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (all when n < 0); b"" at the end of the body."""
        while not self._eof and (n is None or n < 0 or len(self._buf) < n):
            chunk = self._q.get(timeout=WRITE_TIMEOUT)
            self.loop.call_soon_threadsafe(self._room.set)
            if not chunk:
                self._eof = True
                break
            self._buf += chunk
            if n is not None and n >= 0 and self._buf:
                break   # what is there now: tarfile asks again for the rest
        if n is None or n < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        self.total += len(data)
        return data

    def readable(self) -> bool:
        """A file object protocol answer."""
        return True

    async def close(self) -> None:
        """Stop reading the body (the extraction ended, maybe early)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
