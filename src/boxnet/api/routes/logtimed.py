"""`docker logs` with times: `timestamps`, `since`, `until` (with `tail` and
`follow`), from the log files and their log clock (runtime/logclock.py).

Each line's time is the log clock's time of its last byte.  The two streams
are merged in time order, as Docker's json-file log shows them; `tail` keeps
the last N lines of the merged output (at most N lines held); `since` keeps
lines at or after it, `until` lines at or before it (a followed log ends once
`until` has passed).  Timestamps are RFC 3339 with nine fraction digits
(Docker's RFC3339NanoFixed), before the line and a space.  Files are read a
chunk at a time, never whole.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import heapq
import os
import re
import time
from typing import Iterator

from aiohttp import web

from ...runtime.logclock import LogTimes
from ..params import parse_timestamp

CHUNK = 65536
_UNIX_NS = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,9}))?")   # ASCII digits only
FOLLOW_POLL = 0.1


def parse_time(raw: str | None, key: str) -> int | None:
    """Docker's since/until: seconds since the epoch with an optional fraction
    ("1700000000.123456789", what the CLI sends, kept to the nanosecond), an RFC
    3339 time or a Go duration (params.parse_timestamp, strict: ASCII digits only,
    so '³' is a 400, not int()'s 500); "" or 0: unset.  Returns nanoseconds."""
    if raw is None or raw in ("", "0"):
        return None
    if m := _UNIX_NS.fullmatch(raw):
        parse_timestamp(m.group(1), key)   # the range check
        return int(m.group(1)) * 1_000_000_000 + int((m.group(2) or "").ljust(9, "0"))
    return int(parse_timestamp(raw, key) * 1_000_000_000)


def stamp(ns: int) -> bytes:
    """RFC3339NanoFixed in UTC: 2024-01-02T03:04:05.123456789Z."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z".encode()


def lines(fd: int, start: int, end: int, times: LogTimes, stream: int
          ) -> Iterator[tuple[int, int, bytes]]:
    """(time, stream, line) for the lines in [start, end) of `fd`; a last line
    without newline is given as it is."""
    pos, rest = start, b""
    while pos < end:
        block = os.pread(fd, min(CHUNK, end - pos), pos)
        if not block:
            break
        pos += len(block)
        data = rest + block
        cut = 0
        base = pos - len(data)
        while (nl := data.find(b"\n", cut)) >= 0:
            yield times.time_of(base + nl + 1), stream, data[cut:nl + 1]
            cut = nl + 1
        rest = data[cut:]
    if rest:
        yield times.time_of(end), stream, rest


async def stream_timed(request: web.Request, resp: web.StreamResponse, send, fds: dict,
                       paths: dict, start: dict, tail: int | None, timestamps: bool,
                       since: int | None, until: int | None, follow: bool, running) -> None:
    """Write the wanted lines (see the module doc).  `send(stream, data)`
    writes one frame; `start`: each stream's offset where `tail` (per stream)
    begins; `running()`: whether the container still runs."""
    times = {s: LogTimes(paths[s]) for s in fds}
    try:
        ends = {s: os.fstat(fd).st_size for s, fd in fds.items()}
        merged = heapq.merge(*(lines(fds[s], start[s], ends[s], times[s], s) for s in fds),
                             key=lambda x: x[0])
        if tail is not None:
            merged = iter(collections.deque(merged, maxlen=tail))

        async def emit(t: int, s: int, line: bytes) -> None:
            if since is not None and t < since:
                return
            if until is not None and t > until:
                return
            await send(s, stamp(t) + b" " + line if timestamps else line)
        for t, s, line in merged:
            await emit(t, s, line)
        offsets = dict(ends)
        partial = {s: b"" for s in fds}
        while follow and fds:
            if until is not None and time.time_ns() > until:
                break
            got = False
            for s, fd in fds.items():
                data = os.pread(fd, CHUNK, offsets[s])
                if not data:
                    continue
                got = True
                base = offsets[s] - len(partial[s])
                offsets[s] += len(data)
                buf, cut = partial[s] + data, 0
                while (nl := buf.find(b"\n", cut)) >= 0:
                    await emit(times[s].time_of(base + nl + 1), s, buf[cut:nl + 1])
                    cut = nl + 1
                partial[s] = buf[cut:]
            if got:
                continue
            if not running() or request.transport is None or request.transport.is_closing():
                for s, rest in partial.items():
                    if rest:
                        await emit(times[s].time_of(offsets[s]), s, rest)
                break
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        for t in times.values():
            t.close()
