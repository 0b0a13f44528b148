"""Bridges between aiohttp streams and the blocking tar code of runtime/ (which
runs in a worker thread so the event loop keeps answering).

- `stream_from_thread`: the thread's chunks are written to the response one at
  a time; the thread waits until each was handed to the transport, so a slow
  client slows the producer instead of filling memory.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from aiohttp import web

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
