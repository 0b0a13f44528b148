"""The output of a non-TTY exec, streamed to its client as it comes.

Each output pipe is read one chunk at a time and written to the client as
one frame of Docker's multiplexed stream; the next chunk is read only once
the client's socket took the last one.  So the daemon holds at most a chunk
per stream, and a chatty exec (`docker exec c yes`) is slowed to its client's
pace, never collected in memory.  The client's stdin (AttachStdin) goes to
the exec's stdin pipe; its end closes that pipe.  A client that goes away
ends the exec with SIGKILL, as dockerd does.
"""

from __future__ import annotations

import asyncio

from .hijack import Hijack
from .logs import frame


async def stream_exec(h: Hijack, proc, attach_stdin: bool) -> None:
    """Pump `proc` (an ExecProcess) through the hijacked connection `h`
    until its pipes have ended and it has exited, or the client left."""

    async def pump(stream: int) -> None:
        while data := await proc.read(stream):
            if not await h.write(frame(stream, data)):
                return   # the client left: `gone` below ends the exec

    async def feed() -> None:
        try:
            while data := await h.stdin.get():
                await proc.write(data)
        finally:
            proc.close_stdin()

    async def finished() -> None:
        await asyncio.gather(*outputs)
        await asyncio.shield(proc.exited)

    outputs = [asyncio.ensure_future(pump(s)) for s in proc.streams()]
    end = asyncio.ensure_future(finished())
    gone = asyncio.ensure_future(h.gone.wait())
    tasks = [*outputs, end, gone]
    if attach_stdin and proc.pid:
        tasks.append(asyncio.ensure_future(feed()))
    try:
        await asyncio.wait([end, gone], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not end.done():   # the client left (or the request was cancelled)
            proc.kill()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        proc.close()
