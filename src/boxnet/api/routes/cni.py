"""/boxnet/v1/cni/{add,del,check,status,gc}: what the CNI plugin (cni/main.py) asks.

Not part of the Docker Engine API: boxnet's own paths, served on the same socket.  The
plugin has checked the configuration and environment already (cni/config.py); the
body is its distilled request.  /boxnet/v1/cni/exec takes the shell launcher's raw
invocation instead (configuration as the body, CNI_* variables as X-CNI-* headers) and
runs the same checks here; its answer is what the launcher prints.  A CNI error is answered as CNI's error object
({"code", "msg", "details"}, status 400 or 500), which the plugin prints as is.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from ...errors import BoxnetError
from ...cni.config import (COMMANDS, DECODE_FAILURE, INVALID_CONFIG, INVALID_ENV, SPEC_VERSION,
                           CniError, finish, prepare, version_answer)
from .common import ctl, reply

# the shell launcher's headers (cni/main.py SHELL_LAUNCHER) -> CNI_* variables
ENV_HEADERS = {"X-CNI-ContainerID": "CNI_CONTAINERID", "X-CNI-Netns": "CNI_NETNS",
               "X-CNI-Ifname": "CNI_IFNAME", "X-CNI-Args": "CNI_ARGS"}


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
        return reply(await _dispatch(c, req))
    except CniError as e:
        return _cni_error(e)
    except BoxnetError as e:   # not one the core words as CNI's: an I/O failure
        return _cni_error(CniError(5, e.message))


async def _dispatch(c, req: CniRequest) -> dict:
    cmd = req.command.lower()
    if cmd == "add":
        return await c.cni_add(req.network, req.container_id, req.netns, req.ifname,
                               req.ips, req.mac, req.port_mappings)
    if cmd == "del":
        await c.cni_del(req.container_id, req.ifname, req.netns)
    elif cmd == "check":
        await c.cni_check(req.container_id, req.ifname, req.netns, req.prev_result)
    elif cmd == "status":
        c.cni_status(req.network)
    elif cmd == "gc":
        return {"removed": await c.cni_gc(req.network, list(req.valid))}
    return {}


async def _exec(request: web.Request) -> web.Response:
    """The shell launcher's raw invocation: the configuration as the body, the
    CNI_* variables as headers; checked here as the Python plugin checks them."""
    raw = await request.read()
    command = request.headers.get("X-CNI-Command", "")
    env = {var: request.headers[h] for h, var in ENV_HEADERS.items() if request.headers.get(h)}
    version = SPEC_VERSION
    try:
        v = msgspec.json.decode(raw).get("cniVersion") if raw else None
        version = v if isinstance(v, str) and v else version
    except (msgspec.DecodeError, AttributeError):
        pass
    try:
        if command not in COMMANDS:
            raise CniError(INVALID_ENV, f"CNI_COMMAND {command!r} is not a CNI command",
                           "ADD, DEL, CHECK, STATUS, GC or VERSION")
        if command == "VERSION":
            return reply(version_answer())
        conf, body = prepare(command, raw, env)
        try:
            out = await _dispatch(ctl(request), msgspec.convert({**body, "command": command},
                                                                 CniRequest))
        except BoxnetError as e:
            raise CniError(5, e.message) from None
        res = finish(command, conf, out)
        return web.Response(body=b"" if res is None else msgspec.json.encode(res),
                            content_type="application/json")
    except CniError as e:
        err = e.to_json(version)
        return reply(err, 400 if e.code < 100 and e.code != 5 else 500)


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/boxnet/v1/cni/exec", _exec)
    add("POST", "/boxnet/v1/cni/{command:add|del|check|status|gc}", _handle)
