"""GET /boxnet/v1/flows: the flows of issue 20 section 3 as JSON lines.

Query: `follow` (1/true: after the flows known now, each flow as it opens
and closes, until the client goes), `network` and `container` (a name:
flows with it at either end). Each line is one flow record
(flows/table.py: ids, protocol, both ends with their container, service
and network names, bytes and packets each way, start, end, state, verdict).
The records lost before they were read (a full socket buffer or queue,
kernel/nlsub.py) are counted in the `X-Boxnet-Flows-Lost` header and by
GET /boxnet/v1/flows/status. With boxnetd --flows=off both answer 503
naming the flag.

The flow service is the daemon's (daemon/main.py `install`s it with the
route), not the controller's: it follows the kernel, not the model.
"""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from ...errors import InvalidParameter
from ...flows.service import FlowService
from ...flows.table import matches
from .hijack import Hijack

FLOWS = web.AppKey("flows", FlowService)
LOST_HEADER = "X-Boxnet-Flows-Lost"
_enc = msgspec.json.Encoder()
_BOOL = {"": False, "0": False, "false": False, "1": True, "true": True}


async def flows(request: web.Request) -> web.StreamResponse:
    """GET /boxnet/v1/flows?follow=&network=&container= (JSON lines)."""
    svc = request.app[FLOWS]
    follow_text = request.query.get("follow", "").lower()
    if follow_text not in _BOOL:
        raise InvalidParameter(f"invalid value {follow_text!r} for query parameter follow")
    for key in request.query:
        if key not in ("follow", "network", "container"):
            raise InvalidParameter(f"unknown query parameter {key!r} of /boxnet/v1/flows")
    network = request.query.get("network", "")
    container = request.query.get("container", "").lstrip("/")
    snapshot = await svc.snapshot()   # before the stream: an unavailable kernel is a 500
    h = Hijack(request, "application/json")
    lost = svc.lost()   # what the kernel or a full queue took before it was read
    h.resp.headers[LOST_HEADER] = f"conntrack={lost['conntrack']}, drops={lost['drops']}"
    live = svc.follow() if _BOOL[follow_text] else None
    try:
        await h.start()
        for f in snapshot:
            if matches(f, network, container) and not await h.write(_enc.encode(f) + b"\n"):
                return h.resp
        if live is None:
            return await h.finish()
        gone = asyncio.ensure_future(h.gone.wait())
        try:
            while True:
                nxt = asyncio.ensure_future(live.__anext__())
                done, _ = await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    break
                f = nxt.result()
                if matches(f, network, container) and \
                        not await h.write(_enc.encode(f) + b"\n"):
                    break
        finally:
            gone.cancel()
        return await h.finish()
    finally:
        if live is not None:
            await live.aclose()


async def status(request: web.Request) -> web.Response:
    """GET /boxnet/v1/flows/status: {"Enabled": bool, "Lost": {"conntrack": n,
    "drops": n}} (records lost since the start; an error when flows are
    off or unavailable, as for the flows themselves)."""
    if request.query:
        raise InvalidParameter(f"unknown query parameter {next(iter(request.query))!r} of "
                               "/boxnet/v1/flows/status")
    svc = request.app[FLOWS]
    svc.check()
    return web.json_response({"Enabled": True, "Lost": svc.lost()})


def install(app: web.Application, svc: FlowService) -> None:
    """Serve `svc` at /boxnet/v1/flows and /boxnet/v1/flows/status (and
    under /vX.Y/) on `app`."""
    app[FLOWS] = svc
    for path, handler in (("/boxnet/v1/flows", flows), ("/boxnet/v1/flows/status", status)):
        app.router.add_route("GET", path, handler)
        app.router.add_route("GET", r"/v{version:[0-9.]+}" + path, handler)
