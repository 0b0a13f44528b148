"""Docker's connection hijack (attach, exec start) on top of aiohttp.

The client sends `Connection: Upgrade` / `Upgrade: tcp`; the daemon answers
101 and from then on the socket carries raw bytes both ways: the client's
stdin in, the container's output out.

Two aiohttp behaviours are worked around here, on this connection only:
- after an upgrade aiohttp keeps incoming bytes in the protocol's
  `_message_tail`; we take them (and every later chunk) into a queue;
- when the client half-closes (the docker CLI does `CloseWrite` as soon as
  it has no more stdin), asyncio closes the whole transport unless
  `eof_received` returns True, and the output would be lost;
- but then a client that goes away for good (killed) looks the same as a
  half-close until we write to it, so an idle attach would live on.  The
  kernel tells the two apart: a socket whose peer closed both directions
  polls EPOLLHUP.  A private epoll set holding just this socket (with no
  events asked for: HUP is always reported) becomes readable then, and the
  event loop watches that epoll fd.

The client's stdin waits in a bounded Inbox: a client that sends faster than
the container reads is no longer read from (back-pressure), never buffered
without limit.
"""

from __future__ import annotations

import asyncio
import collections
import select
import socket

from aiohttp import web

from ...kernel import sockq

HEADERS_WAIT = 0.5   # s the first output waits for the client to take the 101's headers
MAX_INBOX = 1 << 20   # bytes of client stdin held before the socket is no longer read


class Inbox:
    """The client's stdin not yet consumed, bounded: above MAX_INBOX bytes
    the connection is no longer read (the client's writes block: TCP-style
    back-pressure) until the consumer has taken half of it.  b"" marks the
    end, and get() keeps returning it once the data before it is taken."""

    def __init__(self) -> None:
        """Empty; pause/resume are set to the transport's once it is known."""
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._ended = False
        self._ready = asyncio.Event()
        self._paused = False
        self.pause = self.resume = lambda: None

    def put_nowait(self, data: bytes) -> None:
        """Add a chunk (b"": the end)."""
        if self._ended:
            return
        if not data:
            self._ended = True
        else:
            self._chunks.append(data)
            self._size += len(data)
            if self._size > MAX_INBOX and not self._paused:
                self._paused = True
                self.pause()
        self._ready.set()

    async def get(self) -> bytes:
        """The next chunk; b"" at the end."""
        while not self._chunks:
            if self._ended:
                return b""
            self._ready.clear()
            await self._ready.wait()
        data = self._chunks.popleft()
        self._size -= len(data)
        if self._paused and self._size <= MAX_INBOX // 2:
            self._paused = False
            self.resume()
        return data


class _Tap(asyncio.Protocol):
    """Stands between the transport and aiohttp's protocol on one connection."""

    def __init__(self, inner, queue: Inbox, gone: asyncio.Event, upgrade: bool):
        self.inner, self.queue, self.gone, self.upgrade = inner, queue, gone, upgrade
        self.on_lost = lambda: None

    def data_received(self, data: bytes) -> None:
        if self.upgrade:
            if data:
                self.queue.put_nowait(data)
        else:
            self.inner.data_received(data)

    def eof_received(self):
        if self.upgrade:
            self.queue.put_nowait(b"")
            return True  # keep the write side open: output still flows
        return self.inner.eof_received()

    def connection_lost(self, exc) -> None:
        self.on_lost()
        self.gone.set()
        self.queue.put_nowait(b"")
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Hijack:
    """The raw two-way stream of one upgraded (or plain streamed) request."""

    def __init__(self, request: web.Request, content_type: str):
        """Prepare to answer `request`; call start() to send the headers."""
        self.request = request
        self.upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
        self.stdin = Inbox()
        self.gone = asyncio.Event()       # the client went away
        if self.upgrade:
            self.resp = web.StreamResponse(status=101, headers={
                "Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"})
            self.resp.force_close()
        else:
            self.resp = web.StreamResponse(headers={"Content-Type": content_type})
        self._patch()

    def _patch(self) -> None:
        proto, transport = self.request.protocol, self.request.transport
        if proto is None or transport is None or transport.is_closing():
            self.gone.set()
            self.stdin.put_nowait(b"")
            return
        # aiohttp's RequestHandler has __slots__: wrap it rather than patch it.
        self._inner = proto
        self._tap = _Tap(proto, self.stdin, self.gone, self.upgrade)
        self._tap.on_lost = self._unwatch
        transport.set_protocol(self._tap)
        self.stdin.pause, self.stdin.resume = self._pause_reading, self._resume_reading
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._hup = select.epoll(1)
            self._hup.register(sock.fileno(), 0)
            asyncio.get_running_loop().add_reader(self._hup.fileno(), self._hung_up)

    def _pause_reading(self) -> None:
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _hung_up(self) -> None:
        """The client closed its socket entirely (see module docstring)."""
        self._unwatch()
        self.gone.set()
        self.stdin.put_nowait(b"")
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def _unwatch(self) -> None:
        hup = getattr(self, "_hup", None)
        if hup is not None:
            self._hup = None
            asyncio.get_running_loop().remove_reader(hup.fileno())
            hup.close()

    async def start(self) -> None:
        """Send the 101 (or 200) headers; take bytes the client already sent."""
        await self.resp.prepare(self.request)
        proto = self.request.protocol
        if not self.upgrade:
            self.stdin.put_nowait(b"")
            return
        tail = getattr(proto, "_message_tail", b"")
        if tail:
            proto._message_tail = b""
            self.stdin.put_nowait(tail)
        await self._headers_taken()

    async def _headers_taken(self) -> None:
        """Wait (briefly) until the client has read the 101's headers, so the
        first output does not arrive with them: docker-py would lose it in its
        header buffer (kernel/sockq.py).  Unix sockets only; at most HEADERS_WAIT."""
        transport = self.request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is None or sock.family != socket.AF_UNIX:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HEADERS_WAIT
        while sockq.unread(sock) > 0 and loop.time() < deadline and not self.gone.is_set():
            await asyncio.sleep(0.001)

    async def write(self, data: bytes) -> bool:
        """Send output; False when the client is gone."""
        if self.gone.is_set():
            return False
        try:
            await self.resp.write(data)
            return True
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            self.gone.set()
            return False

    def close(self) -> None:
        """Hang up now (detach keys): the client sees the connection end."""
        transport = self.request.transport
        self.gone.set()
        self.stdin.put_nowait(b"")
        if transport is not None:
            transport.close()

    async def finish(self) -> web.StreamResponse:
        """End the stream (the client sees EOF)."""
        self._unwatch()
        transport = self.request.transport
        if transport is not None and getattr(self, "_tap", None) is not None \
                and not self.upgrade:
            transport.set_protocol(self._inner)  # plain keep-alive connection: give it back
        if not self.gone.is_set():
            try:
                await self.resp.write_eof()
            except (ConnectionError, RuntimeError):
                pass
        return self.resp
