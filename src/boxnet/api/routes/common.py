"""Helpers shared by the route modules: JSON replies and query parsing."""

from __future__ import annotations

import msgspec
from aiohttp import web

from ...core.controller import Controller
from ..params import INT32_MAX, query_int

_enc = msgspec.json.Encoder()
CONTROLLER = web.AppKey("controller", Controller)   # the app's one piece of state


def reply(data, status: int = 200) -> web.Response:
    """A JSON response encoded with msgspec."""
    return web.Response(body=_enc.encode(data), status=status, content_type="application/json")


def qbool(request: web.Request, key: str, default: bool = False) -> bool:
    """A boolean query parameter as Docker reads them (1/true/yes)."""
    val = request.query.get(key)
    if val is None or val == "":
        return default
    return val.lower() in ("1", "true", "yes", "t")


def qint(request: web.Request, key: str, default: int | None = None, lo: int = 0,
         hi: int = INT32_MAX) -> int | None:
    """An integer query parameter in lo..hi, strictly parsed (params.query_int), or
    InvalidParameter naming it."""
    return query_int(request, key, default, lo, hi)


def ctl(request: web.Request) -> Controller:
    """The Controller of this app."""
    return request.app[CONTROLLER]
