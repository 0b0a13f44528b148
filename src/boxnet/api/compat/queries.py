"""Query parameters an older API version did not have, dropped at the edge.

dockerd reads some query parameters only from the version that brought
them (its container router: `if versions.GreaterThanOrEqualTo(version,
"1.42") { options.Signal = r.Form.Get("signal") }` ...). Before that
version the parameter is not read at all, so an older client's request is
served as that version served it. `query_middleware` removes such a
parameter from the request before any route sees it, by this table of
(method, route, version, parameter).
"""

from __future__ import annotations

from aiohttp import web

from ..versions import compare, request_version

# (method, path template without /vX.Y, the version that brought it, parameter)
QUERY_SINCE: tuple[tuple[str, str, str, str], ...] = (
    ("POST", "/containers/{id}/stop", "1.42", "signal"),
    ("POST", "/containers/{id}/restart", "1.42", "signal"),
    ("POST", "/containers/{id}/wait", "1.30", "condition"),
    ("GET", "/containers/{id}/stats", "1.41", "one-shot"),
    ("POST", "/containers/create", "1.41", "platform"),
)
_BY_ROUTE: dict[tuple[str, str], list[tuple[str, str]]] = {}
for _m, _p, _v, _q in QUERY_SINCE:
    _BY_ROUTE.setdefault((_m, _p), []).append((_v, _q))
_NEWEST = max((v for _, _, v, _ in QUERY_SINCE), key=lambda v: tuple(map(int, v.split("."))))


def _template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    if canonical.startswith("/v{version}"):
        canonical = canonical[len("/v{version}"):]
    return canonical


def dropped(request: web.Request) -> list[str]:
    """The query parameters of `request` its API version did not have."""
    version = request_version(request)
    if compare(version, _NEWEST) >= 0:
        return []
    rules = _BY_ROUTE.get((request.method, _template(request)), ())
    return [q for v, q in rules if q in request.query and compare(version, v) < 0]


@web.middleware
async def query_middleware(request: web.Request, handler):
    """Serve an older version's request without the parameters it did not have."""
    gone = dropped(request)
    if gone:
        query = request.query.copy()
        for q in gone:
            query.popall(q, None)
        request = request.clone(rel_url=request.rel_url.with_query(query))
    return await handler(request)
