"""/boxnet/v1/cni/{add,del,check,status,gc}: what the CNI plugin (cni/main.py) asks.

Not part of the Docker Engine API: boxnet's own paths, served on the same socket.  The
plugin has checked the configuration and environment already (cni/config.py); the
body is its distilled request.  A CNI error is answered as CNI's error object
({"code", "msg", "details"}, status 400 or 500), which the plugin prints as is.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from ...cni.config import DECODE_FAILURE, INVALID_CONFIG, CniError
from .common import ctl, reply


class CniRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One plugin invocation, as cni/main.py sends it."""

    command: str
    network: str
    name: str = ""
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    ips: list[str] = []
    mac: str = ""
    port_mappings: list[dict] = []
    prev_result: dict = {}
    valid: list[tuple[str, str]] = []


def _cni_error(e: CniError) -> web.Response:
    status = 400 if e.code < 100 and e.code != 5 else 500
    return reply({"code": e.code, "msg": e.msg, "details": e.details}, status)


async def _handle(request: web.Request) -> web.Response:
    c = ctl(request)
    try:
        try:
            req = msgspec.json.decode(await request.read(), type=CniRequest)
        except msgspec.ValidationError as e:
            raise CniError(DECODE_FAILURE, f"bad request from the plugin: {e}") from None
        except msgspec.DecodeError as e:
            raise CniError(DECODE_FAILURE, f"bad JSON from the plugin: {e}") from None
        cmd = request.match_info["command"]
        if cmd != req.command.lower():
            raise CniError(INVALID_CONFIG, f"command {req.command} sent to /cni/{cmd}")
        if cmd == "add":
            return reply(await c.cni_add(req.network, req.container_id, req.netns, req.ifname,
                                         req.ips, req.mac, req.port_mappings))
        if cmd == "del":
            await c.cni_del(req.container_id, req.ifname, req.netns)
        elif cmd == "check":
            await c.cni_check(req.container_id, req.ifname, req.netns, req.prev_result)
        elif cmd == "status":
            c.cni_status(req.network)
        elif cmd == "gc":
            return reply({"removed": await c.cni_gc(req.network, list(req.valid))})
        return reply({})
    except CniError as e:
        return _cni_error(e)


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/boxnet/v1/cni/{command:add|del|check|status|gc}", _handle)
