"""GET /boxnet/v1/diagnose?from=A&to=B[&port=N][&proto=tcp|udp|icmp][&timeout=S]: can A reach B, and why not.

Not part of the Docker Engine API: boxnet's own path (diagnose/gather.py does the
work).  The answer is 200 with ``Reachable`` false when A cannot reach B: the
diagnosis itself succeeded.  An unknown container is a 404 naming it; a bad port
or protocol a 400.  ``timeout``: how long the probe waits for an answer (0.5 s: a veth answers in well under a millisecond, so silence that long is a drop).
"""

from __future__ import annotations

from aiohttp import web

from ...diagnose.gather import diagnose
from ...errors import InvalidParameter
from .common import ctl, qint, reply


async def get_diagnose(request: web.Request) -> web.Response:
    """Diagnose A -> B with a real probe from A's netns."""
    a, b = request.query.get("from", ""), request.query.get("to", "")
    if not a or not b:
        raise InvalidParameter("diagnose needs from= and to= (container names, ids or IPs)")
    port = qint(request, "port", 0, 0, 65535)
    proto = request.query.get("proto", "")
    spec = b
    if port:
        spec = f"[{b}]:{port}" if ":" in b else f"{b}:{port}"
    if proto:
        spec += "/" + proto
    try:
        timeout = float(request.query.get("timeout", "0.5"))
    except ValueError:
        timeout = -1.0
    if not 0.05 <= timeout <= 30:
        raise InvalidParameter("invalid timeout: seconds from 0.05 to 30")
    return reply(await diagnose(ctl(request), a, spec, timeout))


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/boxnet/v1/diagnose", get_diagnose)
