"""Helpers shared by the route modules: JSON replies and query parsing."""

from __future__ import annotations

import msgspec
from aiohttp import web

from ...errors import InvalidParameter

_enc = msgspec.json.Encoder()


def reply(data, status: int = 200) -> web.Response:
    """A JSON response encoded with msgspec."""
    return web.Response(body=_enc.encode(data), status=status, content_type="application/json")


def qbool(request: web.Request, key: str, default: bool = False) -> bool:
    """A boolean query parameter as Docker reads them (1/true/yes)."""
    val = request.query.get(key)
    if val is None or val == "":
        return default
    return val.lower() in ("1", "true", "yes", "t")


def qint(request: web.Request, key: str, default: int | None = None) -> int | None:
    """An integer query parameter, or InvalidParameter."""
    val = request.query.get(key)
    if val is None or val == "":
        return default
    try:
        return int(val)
    except ValueError:
        raise InvalidParameter(f"invalid value for {key}: {val!r} is not a number") from None


def ctl(request: web.Request):
    """The Controller of this app."""
    return request.app["controller"]
