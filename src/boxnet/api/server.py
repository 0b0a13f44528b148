"""The aiohttp application: routes under /vX.Y and unversioned, Docker's
error bodies, and the unix socket listener (mode 0660)."""

from __future__ import annotations

import logging
import os

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .. import API_VERSION
from ..core.controller import Controller
from ..errors import BoxnetError
from .protocol import DockerAppRunner
from .versions import version_middleware
from .compat.queries import query_middleware
from .routes.common import CONTROLLER
from .routes import containers, execs, firewall, images, networks, system
from .routes import attach, events, registry, swarm, unimplemented
from .routes import archive, commit, df
from .routes import volumes
from .routes import stats
from .routes import cni
from .routes import diagnose, ui

log = logging.getLogger(__name__)
ROUTE_MODULES = (system, networks, containers, execs, images, firewall, attach, events, swarm,
                 volumes, stats, registry, archive, commit, df, cni, diagnose, ui)
# Bodies read whole (request.read(): every JSON body) stop here with a 413.
# Docker's JSON bodies are a few KiB; image tarballs (POST /images/load,
# /images/create?fromSrc=-) are streamed from request.content, which this
# limit does not apply to.
MAX_JSON_BODY = 4 << 20


def _error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode({"message": message}),
                        content_type="application/json")


@web.middleware
async def errors_middleware(request: web.Request, handler):
    """BoxnetError -> Docker's {"message": ...} with its status code."""
    try:
        resp = await handler(request)
    except BoxnetError as exc:
        if exc.status == 304:
            return web.Response(status=304)
        return _error(exc.status, exc.message)
    except web.HTTPRequestEntityTooLarge:
        resp = _error(413, f"request body too large: JSON request bodies are limited to "
                           f"{MAX_JSON_BODY} bytes ({MAX_JSON_BODY >> 20} MiB)")
        resp.force_close()  # the rest of the body is not read
        return resp
    except HttpProcessingError as exc:  # a broken body (chunk framing, length)
        detail = (str(exc.message or "").strip().splitlines() or [type(exc).__name__])[0]
        resp = _error(400, f"bad request body: {detail.rstrip(':')}")
        resp.force_close()
        return resp
    except ConnectionResetError:  # the client went away mid-request: nobody to answer
        log.debug("client disconnected during %s %s", request.method, request.path)
        return _error(400, "incomplete request: the client closed the connection")
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _error(exc.status, exc.reason if exc.status != 404 else
                          f"page not found: {request.method} {request.path}")
        raise
    except Exception as exc:  # a bug: report it, keep serving
        log.exception("internal error on %s %s", request.method, request.path)
        return _error(500, f"internal error: {exc}")
    resp.headers.setdefault("Api-Version", API_VERSION)
    resp.headers.setdefault("Server", f"boxnet/{API_VERSION}")
    return resp


def make_app(controller: Controller) -> web.Application:
    """The application with every route, versioned and not."""
    # version_middleware is outermost: dockerd's version headers go on every
    # answer, errors included (api/versions.py).
    app = web.Application(middlewares=[version_middleware, errors_middleware,
                                       query_middleware], client_max_size=MAX_JSON_BODY)
    app[CONTROLLER] = controller

    def add(method: str, path: str, handler) -> None:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, r"/v{version:[0-9.]+}" + path, handler)   # as dockerd's

    for mod in ROUTE_MODULES:
        mod.add_routes(add)
    unimplemented.add_missing(app.router, add)   # last: documented but unrouted -> 501
    return app


async def serve_unix(app: web.Application, path: str, group: str = "") -> web.AppRunner:
    """Listen on a unix socket (replacing a stale one), mode 0660, owned by
    root and `group` (a name or gid) when given: never world-writable."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    # Streams (events, logs -f, attach, wait) may never end by themselves:
    # at shutdown give requests 2 s, then cancel them, rather than 60 s.
    runner = DockerAppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    old_umask = os.umask(0o117)  # no window where the socket is world-writable
    try:
        site = web.UnixSite(runner, path)
        await site.start()
    finally:
        os.umask(old_umask)
    if group:
        import grp
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        os.chown(path, 0, gid)
    os.chmod(path, 0o660)
    return runner
