"""Exec routes: create, start (output as Docker's stream), inspect."""

from __future__ import annotations

from aiohttp import web

from ...errors import BoxnetError, InvalidParameter, KernelError
from ..schemas import ExecCreateRequest, ExecStartRequest, decode, decode_raw
from ...runtime.users import check_spec as check_user_spec
from .common import ctl, reply
from .attach import exec_tty, exec_tty_detached
from .detach import parse_detach_keys
from .execstream import stream_exec
from .hijack import Hijack
from .logs import frame


async def create(request: web.Request) -> web.Response:
    """POST /containers/{id}/exec."""
    body = await request.read()
    req = decode(body, ExecCreateRequest, "exec create request")
    if not req.cmd:
        raise_invalid()
    size = console_size(req.console_size)
    ex = ctl(request).create_exec(request.match_info["id"], req.cmd, req.env or [],
                                  req.working_dir or "", bool(req.tty), bool(req.attach_stdin),
                                  req.attach_stdout is not False, req.attach_stderr is not False,
                                  user=exec_user(req.user), privileged=bool(req.privileged))
    ex.console_size = size
    keys = req.detach_keys or _any_case(body, "DetachKeys")   # docker-py sends detachKeys
    if keys:
        parse_detach_keys(keys)   # a 400 naming a bad sequence, now
        ex.detach_keys = keys
    return reply({"Id": ex.id}, status=201)


def _any_case(body: bytes, key: str) -> str:
    """A string field looked up case-insensitively, as Go's JSON decoder does
    (docker-py writes exec create's DetachKeys as "detachKeys")."""
    raw = decode_raw(body)
    for k, v in (raw.items() if isinstance(raw, dict) else []):
        if k.lower() == key.lower() and isinstance(v, str):
            return v
    return ""


def console_size(value: list[int] | None) -> list[int]:
    """ConsoleSize as Docker takes it: [height, width], both >= 0 ([] if absent)."""
    if value is None:
        return []
    if len(value) != 2 or any(v < 0 for v in value):
        raise InvalidParameter(f"invalid ConsoleSize {value}: expected [height, width], "
                               f"two non-negative integers")
    return list(value) if all(value) else []


def exec_user(value: str | None) -> str:
    """Exec create's User (`exec -u`), syntax checked; its names are looked up
    in the container by the core."""
    check_user_spec(value or "")
    return value or ""


def raise_invalid():
    """No command given."""
    raise InvalidParameter("No exec command specified")


async def start(request: web.Request) -> web.StreamResponse:
    """POST /exec/{id}/start: run, then send the output (raw if Tty)."""
    c = ctl(request)
    body = await request.read()
    req = decode(body, ExecStartRequest, "exec start request") if body.strip() else ExecStartRequest()
    ex = c.get_exec(request.match_info["id"])
    c.check_exec_startable(ex)
    ex.console_size = console_size(req.console_size) or ex.console_size
    if req.detach and (req.tty or ex.tty):
        await exec_tty_detached(request, ex)
        return web.Response(status=200)
    if req.detach:
        # No pipes: Docker discards a detached exec's output.
        proc = await c.start_exec(ex.id)
        if proc.error:
            raise_start_failed(proc)
        return web.Response(status=200)
    tty = bool(req.tty or ex.tty)
    # Hijacked connection (docker CLI, docker-py): raw bytes after the 101
    # headers, stdin from the client, then close, which is how clients see
    # the end (see hijack.py).
    h = Hijack(request, "application/vnd.docker.raw-stream" if tty
               else "application/vnd.docker.multiplexed-stream")
    try:
        await h.start()
    except ConnectionError:
        # The client hung up right after its request: the exec still starts and
        # at once ends as for a client that leaves later (killed, its exit
        # recorded), as dockerd runs a start it received to its end.
        h.gone.set()
    if tty:
        try:
            await exec_tty(request, ex, h)
        except BoxnetError as exc:
            await h.write(exc.message.encode() + b"\r\n")
        return await h.finish()
    try:
        proc = await c.start_exec(ex.id, ex.attach_stdin, ex.attach_stdout, ex.attach_stderr)
    except BoxnetError as exc:
        await h.write(frame(2, exc.message.encode() + b"\n"))
        return await h.finish()
    await stream_exec(h, proc, ex.attach_stdin)
    return await h.finish()


def raise_start_failed(proc) -> None:
    """A detached exec runc could not start: Docker's 400 for a program that
    is not found or cannot be run (the exec's exit code says which), else 500."""
    msg = f"OCI runtime exec failed: {proc.error}"
    if proc.exited.result() in (126, 127):
        raise InvalidParameter(msg)
    raise KernelError(msg)


async def inspect(request: web.Request) -> web.Response:
    """GET /exec/{id}/json."""
    ex = ctl(request).get_exec(request.match_info["id"])
    return reply({
        "ID": ex.id, "Running": ex.running, "ExitCode": ex.exit_code,
        "ProcessConfig": {"privileged": ex.privileged, "user": ex.user, "tty": ex.tty,
                          "entrypoint": ex.cmd[0] if ex.cmd else "", "arguments": ex.cmd[1:]},
        "OpenStdin": ex.attach_stdin, "OpenStderr": ex.attach_stderr,
        "OpenStdout": ex.attach_stdout, "CanRemove": False, "ContainerID": ex.container_id,
        "DetachKeys": ex.detach_keys, "Pid": ex.pid})


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/containers/{id}/exec", create)
    add("POST", "/exec/{id}/start", start)
    add("GET", "/exec/{id}/json", inspect)
