"""The HTTP connection handler of the API: malformed requests get Docker's
{"message": ...} error body, and a broken chunked body fails the request
that is reading it.

Two aiohttp (3.x, C parser) behaviours are corrected here:
- A request aiohttp cannot parse (bad request line, header or chunk framing)
  is answered by `RequestHandler.handle_error` with a text/plain body, before
  any middleware runs.  Docker clients expect JSON with a "message".
- When the chunk framing breaks in the middle of a body whose handler is
  already running (a bad chunk-size line, a chunk longer than declared),
  llhttp's error is queued as if it were the *next* request, and the running
  handler's body stream is never failed: the handler would wait forever.
  `data_received` hands the error to that body stream instead and closes the
  connection after the reply, so the handler answers 400 and gives up.

Only private hooks of aiohttp are used (`_messages`, `_current_request`);
each is looked up defensively so a future aiohttp falls back to its own
behaviour rather than breaking the daemon.
"""

from __future__ import annotations

from http import HTTPStatus

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

try:  # private in aiohttp 3.x: the queued "message" that stands for a parse error
    from aiohttp.web_protocol import _ErrInfo
except ImportError:  # pragma: no cover - another aiohttp
    _ErrInfo = None


def error_body(message: str) -> bytes:
    """Docker's error document."""
    return msgspec.json.encode({"message": message})


class DockerRequestHandler(RequestHandler):
    """aiohttp's connection handler with Docker-shaped protocol errors."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        """Parse as aiohttp does; a framing error inside the body of the
        request being handled fails that request's body stream."""
        messages = getattr(self, "_messages", None)
        before = len(messages) if messages is not None else 0
        super().data_received(data)
        current = getattr(self, "_current_request", None)
        if _ErrInfo is None or messages is None or current is None:
            return
        content = current.content
        if content.is_eof() or content.exception() is not None:
            return
        new = list(messages)[before:]
        errors = [m for m, _ in new if isinstance(m, _ErrInfo)]
        if not errors:
            return
        for item in new:                 # the error now belongs to the running request
            messages.remove(item)
        err = errors[0]
        exc = err.exc if isinstance(err.exc, BadHttpMessage) else BadHttpMessage(err.message)
        content.set_exception(exc)
        content.feed_eof()               # nothing more will come: no lingering read after
        self.close()                     # the parser is stuck: no further request on it

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """aiohttp's error reply (logging, close) with a JSON body."""
        super().handle_error(request, status, exc, message)
        if status >= 500:
            text = "internal error while reading the request"
        else:
            first = (message or "").strip().splitlines()
            text = f"bad request: {first[0].strip().rstrip(':') if first else HTTPStatus(status).phrase}"
        resp = web.Response(status=status, body=error_body(text),
                            content_type="application/json")
        resp.force_close()
        return resp


class DockerServer(Server):
    """aiohttp's Server making DockerRequestHandler connections."""

    def __call__(self) -> RequestHandler:
        """One handler per accepted connection."""
        return DockerRequestHandler(self, loop=self._loop, **self._kwargs)


class DockerAppRunner(web.AppRunner):
    """web.AppRunner whose connections use DockerRequestHandler."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        if type(server) is Server:       # the app's own Server: only its factory changes
            server.__class__ = DockerServer
        return server
