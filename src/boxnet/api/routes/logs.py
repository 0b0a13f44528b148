"""Container logs: Docker's multiplexed stream (8-byte frame headers) from
the stdout/stderr files the runtime writes, optionally followed.

Streamed, never read whole: the files are read one chunk at a time and a
chunk is read only once the client took the previous one, so a log of any
size costs the daemon a chunk of memory.  `tail` finds the start of the last
N lines by reading the file backwards from its end, one block at a time.
With `timestamps`, `since` or `until` the lines come with their times from
the log clock, both streams merged in time order (api/routes/logtimed.py).
"""

from __future__ import annotations

import asyncio
import os
import struct

from aiohttp import web

from ...errors import InvalidParameter
from ..compat.containers import logs_content_type
from ..params import parse_int
from .common import ctl, qbool
from .logtimed import parse_time, stream_timed

CHUNK = 65536
FOLLOW_POLL = 0.1   # s between looks at a followed log that had nothing new


def frame(stream: int, data: bytes) -> bytes:
    """One frame of the multiplexed stream (1 = stdout, 2 = stderr)."""
    return struct.pack(">BxxxL", stream, len(data)) + data


def tail_offset(fd: int, end: int, lines: int | None) -> int:
    """Where the last `lines` lines of the first `end` bytes of `fd` begin
    (None: all).  A line ends with a newline; a last line without one counts."""
    if lines is None:
        return 0
    if lines <= 0 or end == 0:
        return end
    pos = end
    skip_last = True   # the newline that ends the last line is not a boundary
    while pos > 0:
        start = max(0, pos - CHUNK)
        block = os.pread(fd, pos - start, start)
        i = len(block)
        while True:
            i = block.rfind(b"\n", 0, i)
            if i < 0:
                break
            if skip_last and start + i == end - 1:
                skip_last = False
                continue
            skip_last = False
            lines -= 1
            if lines == 0:
                return start + i + 1
        skip_last = False
        pos = start
    return 0


def parse_tail(raw: str | None) -> int | None:
    """Docker's `tail`: "all" (or empty, or negative) means every line."""
    if raw is None or raw in ("all", ""):
        return None
    body = raw[1:] if raw.startswith("-") else raw
    if not (body.isascii() and body.isdigit()):
        raise InvalidParameter(f"invalid value for tail: {raw!r} (a number of lines or \"all\")")
    return None if raw.startswith("-") else parse_int(raw, "tail")   # range checked


async def stream_logs(request: web.Request) -> web.StreamResponse:
    """Write the logs; with follow=1 keep going until the container stops."""
    c = ctl(request)
    cont = c.container(request.match_info["id"])
    want = [(1, qbool(request, "stdout")), (2, qbool(request, "stderr"))]
    follow = qbool(request, "follow")
    tail = parse_tail(request.query.get("tail"))
    timestamps = qbool(request, "timestamps")
    since = parse_time(request.query.get("since"), "since")
    until = parse_time(request.query.get("until"), "until")
    tty = cont.config.tty
    paths = dict(zip((1, 2), c.runtime.log_paths(cont.id)))
    fds: dict[int, int] = {}
    try:
        for stream, on in want:
            if on:
                try:
                    fds[stream] = os.open(paths[stream], os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    pass
        resp = web.StreamResponse(headers={"Content-Type": logs_content_type(request, tty)})
        await resp.prepare(request)

        async def send(stream: int, data: bytes) -> None:
            await resp.write(data if tty else frame(stream, data))

        # Times, or the last N lines of both streams together (Docker's tail counts
        # the merged output): the timed path (api/routes/logtimed.py).
        if timestamps or since is not None or until is not None or \
                (tail is not None and len(fds) > 1):
            start = {s: tail_offset(fd, os.fstat(fd).st_size, tail) for s, fd in fds.items()}
            await stream_timed(request, resp, send, fds, paths, start, tail, timestamps,
                               since, until, follow, lambda: c.containers.get(cont.id)
                               is not None and cont.status == "running")
            await resp.write_eof()
            return resp
        offsets = {}
        for stream, fd in fds.items():
            end = os.fstat(fd).st_size
            off = tail_offset(fd, end, tail)
            while off < end:
                data = os.pread(fd, min(CHUNK, end - off), off)
                if not data:
                    break
                off += len(data)
                await send(stream, data)
            offsets[stream] = off
        while follow and offsets:
            done = c.containers.get(cont.id) is None or cont.status != "running"
            got = False
            for stream, off in offsets.items():
                data = os.pread(fds[stream], CHUNK, off)
                if data:
                    offsets[stream] = off + len(data)
                    got = True
                    await send(stream, data)
            if got:
                continue
            # A client that went away ends the follow at once, even on an idle
            # container (nothing is written, so no write would fail to tell us).
            if done or request.transport is None or request.transport.is_closing():
                break
            await asyncio.sleep(FOLLOW_POLL)
        await resp.write_eof()
        return resp
    finally:
        for fd in fds.values():
            os.close(fd)
