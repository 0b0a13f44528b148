"""/boxnet/v1/cni/exec: what boxnet's CNI launchers (cni/launcher.py, the sh one in
cni/main.py) send, one request per CNI command.

Not part of the Docker Engine API: boxnet's own path, served on the same socket.  The
body is the raw network configuration the runtime passed, the CNI_* variables come as
X-CNI-* headers; the checks (cni/config.py) run here, so a launcher needs no JSON
parser, and the answer is exactly what the launcher prints: the result (2xx), or
CNI's error object ({"cniVersion", "code", "msg", "details"}, status 400 or 500).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from ...errors import BoxnetError
from ...cni.config import (COMMANDS, INVALID_ENV, SPEC_VERSION, CniError, finish, prepare,
                           version_answer)
from .common import ctl, reply

# the launchers' headers (cni/launcher.py, cni/main.py SHELL_LAUNCHER) -> CNI_* variables
ENV_HEADERS = {"X-CNI-ContainerID": "CNI_CONTAINERID", "X-CNI-Netns": "CNI_NETNS",
               "X-CNI-Ifname": "CNI_IFNAME", "X-CNI-Args": "CNI_ARGS"}


class CniRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One checked invocation (cni/config.py prepare's body and the command)."""

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
    """A launcher's raw invocation: the configuration as the body, the CNI_*
    variables as headers; checked here (cni/config.py), then run."""
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
