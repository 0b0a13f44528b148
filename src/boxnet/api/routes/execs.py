"""Exec routes: create, start (output as Docker's stream), inspect."""

from __future__ import annotations

from aiohttp import web

from ...errors import BoxnetError
from ..schemas import ExecCreateRequest, ExecStartRequest, decode
from .common import ctl, reply
from .logs import frame


async def create(request: web.Request) -> web.Response:
    """POST /containers/{id}/exec."""
    req = decode(await request.read(), ExecCreateRequest, "exec create request")
    if not req.cmd:
        raise_invalid()
    ex = ctl(request).create_exec(request.match_info["id"], req.cmd, req.env or [],
                                  req.working_dir or "", bool(req.tty), bool(req.attach_stdin),
                                  req.attach_stdout is not False, req.attach_stderr is not False)
    return reply({"Id": ex.id}, status=201)


def raise_invalid():
    """No command given."""
    from ...errors import InvalidParameter
    raise InvalidParameter("No exec command specified")


async def start(request: web.Request) -> web.StreamResponse:
    """POST /exec/{id}/start: run, then send the output (raw if Tty)."""
    c = ctl(request)
    body = await request.read()
    req = decode(body, ExecStartRequest, "exec start request") if body.strip() else ExecStartRequest()
    ex = c.get_exec(request.match_info["id"])
    c.check_exec_startable(ex)
    if req.detach:
        request.loop.create_task(c.start_exec(ex.id))
        return web.Response(status=200)
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    tty = bool(req.tty or ex.tty)
    ctype = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    if upgrade:
        # Hijacked connection (docker CLI, docker-py): raw bytes after the
        # 101 headers, then close, which is how clients see the end.
        resp = web.StreamResponse(status=101, headers={"Content-Type": ctype,
                                                       "Connection": "Upgrade", "Upgrade": "tcp"})
        resp.force_close()
    else:
        resp = web.StreamResponse(headers={"Content-Type": ctype})
    # Headers go out before the process runs, as with Docker: hijacking
    # clients read them first and then the raw stream from the socket.
    await resp.prepare(request)
    try:
        res = await c.start_exec(ex.id)
    except BoxnetError as exc:
        await resp.write(frame(2, exc.message.encode() + b"\n") if not tty else exc.message.encode())
        await resp.write_eof()
        return resp
    if tty:
        await resp.write(res.stdout + res.stderr)
    else:
        if res.stdout and ex.attach_stdout:
            await resp.write(frame(1, res.stdout))
        if res.stderr and ex.attach_stderr:
            await resp.write(frame(2, res.stderr))
    await resp.write_eof()
    return resp


async def inspect(request: web.Request) -> web.Response:
    """GET /exec/{id}/json."""
    ex = ctl(request).get_exec(request.match_info["id"])
    return reply({
        "ID": ex.id, "Running": ex.running, "ExitCode": ex.exit_code,
        "ProcessConfig": {"privileged": False, "user": "", "tty": ex.tty,
                          "entrypoint": ex.cmd[0] if ex.cmd else "", "arguments": ex.cmd[1:]},
        "OpenStdin": ex.attach_stdin, "OpenStderr": ex.attach_stderr,
        "OpenStdout": ex.attach_stdout, "CanRemove": False, "ContainerID": ex.container_id,
        "DetachKeys": "", "Pid": ex.pid})


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/containers/{id}/exec", create)
    add("POST", "/exec/{id}/start", start)
    add("GET", "/exec/{id}/json", inspect)
