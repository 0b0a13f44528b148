"""A fake Docker Engine API on a unix socket, for CLI tests.

An aiohttp app in a background thread: it answers from `routes`
((method, path) -> (status, json body) or an async handler) and records every
request as (method, path, query dict, decoded body).
"""

from __future__ import annotations

import asyncio
import json
import threading

from aiohttp import web


def frame(stream: int, data: bytes) -> bytes:
    """One frame of Docker's multiplexed stream format."""
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


class FakeDocker:
    """Serve canned answers on `sock`; inspect `requests` afterwards."""

    def __init__(self, sock: str):
        self.sock = sock
        self.routes: dict = {}
        self.api_version = "1.52"   # what /_ping's Api-Version header says
        self.requests: list[tuple[str, str, dict, object]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> "FakeDocker":
        """Start serving; return self."""
        self._thread.start()
        self._ready.wait(5)
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.UnixSite(self._runner, self.sock).start())
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        """Stop the server thread."""
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        fut.result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self, req: web.Request) -> web.StreamResponse:
        raw = await req.read()
        if req.path == "/_ping" and ("GET", "/_ping") not in self.routes:
            # the client's version negotiation (client/engine.py): not recorded
            return web.Response(text="OK" if req.method == "GET" else "",
                                headers={"Api-Version": self.api_version})
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append((req.method, req.path, dict(req.query), body))
        route = self.routes.get((req.method, req.path))
        if route is None:
            return web.json_response({"message": f"page not found: {req.path}"}, status=404)
        if callable(route):
            return await route(req)
        status, data = route
        if status == 204:
            return web.Response(status=204)
        return web.json_response(data, status=status)

    def find(self, method: str, path: str) -> list:
        """Recorded requests matching method and path."""
        return [r for r in self.requests if r[0] == method and r[1] == path]


def stream_handler(payload: bytes, content_type: str = "application/vnd.docker.multiplexed-stream"):
    """A route that streams `payload` then closes, like a hijacked exec/attach."""
    async def handler(req: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": content_type})
        await resp.prepare(req)
        await resp.write(payload)
        await resp.write_eof()
        return resp
    return handler
