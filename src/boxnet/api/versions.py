"""The Engine API version of a request, with dockerd's negotiation rules.

Every route is served unversioned and under `/v{version}` (`api/server.py`).
`version_middleware` checks the version of each request as dockerd's
VersionMiddleware does (daemon/server/middleware/version.go):

- no `/vX.Y` prefix: the request is at the highest version, `MAX_VERSION`;
- a version below `MIN_VERSION` or above `MAX_VERSION` is refused with a 400
  and dockerd's words ("client version 1.12 is too old. Minimum supported API
  version is 1.24, please upgrade your client to a newer version" / "client
  version 1.53 is too new. Maximum supported API version is 1.52");
- every answer, refusals included, carries `Api-Version` (the highest),
  `Ostype` and `Docker-Experimental`, as dockerd's middlewares set them.

Versions compare as Go's `versions.Compare`: dot-separated integers, a
missing part is 0, a part that is not a number counts as 0.

Routes and the compat layer (`api/compat/`) read the version with
`request_version(request)` or `older(request, "1.44")`; nothing else
parses the path.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from .. import API_VERSION, MIN_API_VERSION

Version = tuple[int, int]

_KEY = web.RequestKey("api_version", tuple)


def parse(text: str) -> tuple[int, ...]:
    """Go's reading of a version string: each dot-separated part an integer
    (one that is not a number counts as 0, as strconv.Atoi's error is
    ignored there)."""
    parts = []
    for p in text.split("."):
        parts.append(int(p) if p.isdigit() else 0)
    return tuple(parts)


def compare(a: str | tuple, b: str | tuple) -> int:
    """-1, 0 or 1 as Go's versions.compare (missing parts are 0)."""
    x = parse(a) if isinstance(a, str) else tuple(a)
    y = parse(b) if isinstance(b, str) else tuple(b)
    n = max(len(x), len(y))
    x, y = x + (0,) * (n - len(x)), y + (0,) * (n - len(y))
    return (x > y) - (x < y)


MIN_VERSION: Version = parse(MIN_API_VERSION)[:2]   # type: ignore[assignment]
MAX_VERSION: Version = parse(API_VERSION)[:2]       # type: ignore[assignment]


def text(v: tuple) -> str:
    """"1.44" for (1, 44)."""
    return ".".join(str(p) for p in v)


def out_of_range(version: str) -> str | None:
    """dockerd's refusal of `version` (a path's vX.Y without the v), or None
    when it is served."""
    if compare(version, MIN_VERSION) < 0:
        return (f"client version {version} is too old. Minimum supported API version is "
                f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    if compare(version, MAX_VERSION) > 0:
        return (f"client version {version} is too new. Maximum supported API version is "
                f"{API_VERSION}")
    return None


def version_of(raw: str | None) -> Version:
    """The (major, minor) a request's path version stands for (None or "":
    the highest). Call only with a version in range."""
    if not raw:
        return MAX_VERSION
    p = parse(raw) + (0, 0)
    return (p[0], p[1])


def request_version(request: web.Request) -> Version:
    """The API version `request` is served at: (major, minor), e.g. (1, 44);
    the highest (1, 52) when its path has no /vX.Y prefix."""
    v = request.get(_KEY)
    if v is None:
        v = version_of(request.match_info.get("version"))
    return v


def older(request: web.Request, than: str) -> bool:
    """True when `request` is at a version before `than` ("1.44")."""
    return compare(request_version(request), than) < 0


def at_least(request: web.Request, since: str) -> bool:
    """True when `request` is at version `since` ("1.52") or a later one."""
    return not older(request, since)


RESPONSE_HEADERS = {"Api-Version": API_VERSION, "Ostype": "linux",
                    "Docker-Experimental": "false"}


def _headers(resp: web.StreamResponse) -> None:
    if getattr(resp, "prepared", False):
        return
    for k, v in RESPONSE_HEADERS.items():
        resp.headers.setdefault(k, v)


@web.middleware
async def version_middleware(request: web.Request, handler):
    """Refuse a version out of range (400, dockerd's message, nothing done),
    record the request's version, and add dockerd's version headers."""
    raw = request.match_info.get("version")
    if raw:
        refusal = out_of_range(raw)
        if refusal is not None:
            resp = web.Response(status=400, body=msgspec.json.encode({"message": refusal}),
                                content_type="application/json")
            _headers(resp)
            return resp
    request[_KEY] = version_of(raw)
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        _headers(exc)
        raise
    _headers(resp)
    return resp
