"""GET /boxnet/ui/: the live picture's static page (ui/static), served on the daemon's socket.

Not part of the Docker Engine API.  The page itself only reads the Engine API
(GET /networks, /containers/json, /events) and boxnet's /boxnet/v1/diagnose;
a browser reaches it through `boxnet ui`, a loopback-only proxy that passes
those GETs and nothing else (client/uiproxy.py).
"""

from __future__ import annotations

from aiohttp import web

from ...errors import NotFound
from ...ui import STATIC

TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
         ".png": "image/png", ".svg": "image/svg+xml"}
# no other site may frame the page or guess its types
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Cache-Control": "no-cache"}


def _files() -> dict[str, object]:
    return {p.name: p for p in STATIC.iterdir() if p.is_file() and p.suffix in TYPES}


async def index(request: web.Request) -> web.StreamResponse:
    """GET /boxnet/ui/ (and /boxnet/ui, redirected)."""
    if not request.path.endswith("/"):
        raise web.HTTPFound(request.path + "/")
    return _serve("index.html")


async def static(request: web.Request) -> web.StreamResponse:
    """GET /boxnet/ui/{name}: one of the page's files (NotFound for any other name)."""
    return _serve(request.match_info["name"])


def _serve(name: str) -> web.Response:
    path = _files().get(name)
    if path is None:
        raise NotFound(f"no such ui file: {name}")
    return web.Response(body=path.read_bytes(), headers=HEADERS,
                        content_type=TYPES[path.suffix], charset="utf-8")


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/boxnet/ui", index)
    add("GET", "/boxnet/ui/", index)
    add("GET", "/boxnet/ui/{name}", static)
