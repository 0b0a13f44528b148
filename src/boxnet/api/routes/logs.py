"""Container logs: Docker's multiplexed stream (8-byte frame headers) from
the stdout/stderr files the runtime writes, optionally followed."""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

from .common import ctl, qbool

CHUNK = 65536


def frame(stream: int, data: bytes) -> bytes:
    """One frame of the multiplexed stream (1 = stdout, 2 = stderr)."""
    return struct.pack(">BxxxL", stream, len(data)) + data


def _tail(data: bytes, n: int | None) -> bytes:
    if n is None or n < 0:
        return data
    if n == 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-n:])


async def stream_logs(request: web.Request) -> web.StreamResponse:
    """Write the logs; with follow=1 keep going until the container stops."""
    c = ctl(request)
    cont = c.container(request.match_info["id"])
    want = [(1, qbool(request, "stdout")), (2, qbool(request, "stderr"))]
    follow = qbool(request, "follow")
    tail_raw = request.query.get("tail", "all")
    tail = None if tail_raw in ("all", "") else int(tail_raw) if tail_raw.isdigit() else None
    tty = cont.config.tty
    resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.raw-stream" if tty
                                       else "application/vnd.docker.multiplexed-stream"})
    await resp.prepare(request)
    paths = dict(zip((1, 2), c.runtime.log_paths(cont.id)))
    offsets = {}
    for stream, on in want:
        if not on:
            continue
        try:
            with open(paths[stream], "rb") as f:
                data = f.read()
        except OSError:
            data = b""
        offsets[stream] = len(data)
        data = _tail(data, tail)
        if data:
            await resp.write(data if tty else frame(stream, data))
    while follow and offsets:
        done = c.containers.get(cont.id) is None or cont.status != "running"
        for stream, off in offsets.items():
            try:
                with open(paths[stream], "rb") as f:
                    f.seek(off)
                    data = f.read(CHUNK)
            except OSError:
                data = b""
            if data:
                offsets[stream] = off + len(data)
                await resp.write(data if tty else frame(stream, data))
                done = False
        # A client that went away ends the follow at once, even on an idle
        # container (nothing is written, so no write would fail to tell us).
        if done or request.transport is None or request.transport.is_closing():
            break
        await asyncio.sleep(0.2)
    await resp.write_eof()
    return resp


