"""A reverse proxy in front of a test registry that misbehaves on one blob:
`cut` sends the response headers and half of the body, then closes the
connection (an interrupted pull); `hang` sends half and then nothing (a
registry that hangs); `pad` sends the body plus extra bytes (a blob that
lies about its size); `manifest` adds a byte to a manifest (DIGEST:
"manifests") while its Docker-Content-Digest header stays; anything else is
forwarded unchanged.

Run: python cutproxy.py LISTEN_HOST:PORT UPSTREAM_URL DIGEST MODE
(started by a test inside the registry's netns)."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp import web


def main() -> None:
    """Serve until killed."""
    listen, upstream, digest, mode = sys.argv[1:5]
    host, port = listen.rsplit(":", 1)

    async def handle(request: web.Request) -> web.StreamResponse:
        async with aiohttp.ClientSession(auto_decompress=False) as s:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            async with s.request(request.method, upstream + request.path_qs, headers=headers,
                                 data=await request.read(), allow_redirects=False) as r:
                body = await r.read()
                hdrs = {k: v for k, v in r.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection")}
                if digest in request.path and request.method == "GET" and r.status == 200:
                    if mode == "cut":
                        resp = web.StreamResponse(status=200, headers=hdrs)
                        resp.content_length = len(body)
                        await resp.prepare(request)
                        await resp.write(body[:len(body) // 2])
                        await asyncio.sleep(0.2)
                        request.transport.close()
                        return resp
                    if mode == "hang":             # half the body, then silence
                        resp = web.StreamResponse(status=200, headers=hdrs)
                        resp.content_length = len(body)
                        await resp.prepare(request)
                        await resp.write(body[:len(body) // 2])
                        await asyncio.sleep(3600)
                    if mode == "pad":
                        body += b"\0" * 4096
                    if mode == "manifest":         # still JSON, no longer the digest
                        body += b"\n"
                return web.Response(status=r.status, body=body, headers=hdrs)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host=host, port=int(port), print=None)


if __name__ == "__main__":
    main()
