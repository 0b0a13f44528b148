"""Documented endpoints boxnet does not serve: 501 naming them, never a 404.

The Engine API spec lists every (method, path) pair (api/spec_endpoints.py, generated
from the spec boxnet advertises).  After every route module registered its routes,
`add_missing` gives each documented pair that has no route a handler answering 501
with Docker's error body, e.g. {"message": "POST /build is not implemented by boxnet"},
so a client learns the endpoint is known but absent instead of guessing from a 404.
A path no spec documents still gets aiohttp's 404 (errors_middleware words it).
The swarm endpoints are served by api/routes/swarm.py (dockerd's 503 outside a swarm),
so they never reach this module.
"""

from __future__ import annotations

import re

from aiohttp import web

from ...errors import NotImplementedFeature
from ..spec_endpoints import SPEC_ENDPOINTS

# Why: what a route module serves differs from the spec in the parameter's name
# ({id} vs {name}) and in its pattern ({name:.+}); the shape is what matters.
_PARAM = re.compile(r"\{[^}]*\}")
# Endpoints where a hint helps more than the bare refusal.
HINTS = {
    ("POST", "/build"): "build images with another tool and `docker load` them",
    ("POST", "/session"): "BuildKit sessions are not supported",
    ("GET", "/containers/{id}/attach/ws"): "attach over the hijacked HTTP stream instead",
}


def shape(path: str) -> str:
    """A path template with every parameter written `{}`."""
    return _PARAM.sub("{}", path)


def routed(router: web.UrlDispatcher) -> set[tuple[str, str]]:
    """The (method, shape) pairs served by the routes registered so far
    (unversioned paths: each is also served under /vX.Y)."""
    out = set()
    for route in router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if canonical.startswith("/v{version"):
            continue
        out.add((route.method, shape(canonical)))
    return out


def missing(router: web.UrlDispatcher) -> list[tuple[str, str]]:
    """The documented (method, path) pairs no registered route serves."""
    have = routed(router)
    return [(m, p) for m, p in SPEC_ENDPOINTS if (m, shape(p)) not in have]


def _handler(method: str, path: str):
    hint = HINTS.get((method, path))
    message = f"{method} {path} is not implemented by boxnet" + (f" ({hint})" if hint else "")

    async def not_implemented(request: web.Request) -> web.Response:
        """A documented endpoint boxnet does not serve: 501 naming it."""
        raise NotImplementedFeature(message)
    return not_implemented


def add_missing(router: web.UrlDispatcher, add) -> list[tuple[str, str]]:
    """Register a 501 handler for every documented pair still unrouted; call it
    after every route module.  Returns the pairs it registered."""
    todo = missing(router)
    for method, path in todo:
        add(method, path, _handler(method, path))
    return todo
