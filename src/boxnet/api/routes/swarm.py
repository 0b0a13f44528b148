"""Swarm endpoints: boxnet is never part of a swarm, so they answer as a
dockerd outside one does (503 "This node is not part of a swarm").

docker-py's test helpers call POST /swarm/leave on teardown and `docker
info` style clients probe GET /swarm: both must get dockerd's answer, not a
404.  Joining or creating a swarm is refused with 501 (not supported).
"""

from __future__ import annotations

from aiohttp import web

from ...errors import NotImplementedFeature, Unavailable

# dockerd's exact words start the message: clients match on them.
NOT_IN_SWARM = "This node is not part of a swarm"

PATHS = [("GET", "/swarm"), ("POST", "/swarm/leave"), ("POST", "/swarm/update"),
         ("GET", "/swarm/unlockkey"), ("POST", "/swarm/unlock"),
         ("GET", "/nodes"), ("GET", "/nodes/{id}"), ("DELETE", "/nodes/{id}"),
         ("POST", "/nodes/{id}/update"), ("GET", "/services"), ("POST", "/services/create"),
         ("GET", "/services/{id}"), ("DELETE", "/services/{id}"),
         ("POST", "/services/{id}/update"), ("GET", "/services/{id}/logs"),
         ("GET", "/tasks"), ("GET", "/tasks/{id}"), ("GET", "/tasks/{id}/logs"),
         ("GET", "/secrets"), ("POST", "/secrets/create"), ("GET", "/secrets/{id}"),
         ("DELETE", "/secrets/{id}"), ("POST", "/secrets/{id}/update"),
         ("GET", "/configs"), ("POST", "/configs/create"), ("GET", "/configs/{id}"),
         ("DELETE", "/configs/{id}"), ("POST", "/configs/{id}/update")]


async def not_in_swarm(request: web.Request) -> web.Response:
    """Any swarm query or change: 503 like a dockerd outside a swarm."""
    raise Unavailable(NOT_IN_SWARM)


async def init_or_join(request: web.Request) -> web.Response:
    """POST /swarm/init, /swarm/join: not supported."""
    raise NotImplementedFeature("swarm mode is not supported by boxnet (it is a single-host "
                                "engine; use overlay networks with a shared store instead)")


def add_routes(add) -> None:
    """Register this module's routes."""
    for method, path in PATHS:
        add(method, path, not_in_swarm)
    add("POST", "/swarm/init", init_or_join)
    add("POST", "/swarm/join", init_or_join)
