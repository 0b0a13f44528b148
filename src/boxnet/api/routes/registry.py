"""Registry routes: pull (`POST /images/create?fromImage=`, dispatched from
images.py), push (`POST /images/{name}/push`) and login (`POST /auth`).

Errors found before the first progress message (a bad reference, refused
credentials, an unknown manifest, no matching platform) are HTTP statuses;
later ones are `{"error", "errorDetail"}` messages in the stream, as dockerd
writes them, and `docker pull` / `docker push` print them and exit 1."""

from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

import msgspec
from aiohttp import web

from ...errors import BoxnetError, InvalidParameter, NotImplementedFeature
from ...registry.auth import check_push_body
from ...registry.progress import error
from .common import ctl, reply

log = logging.getLogger(__name__)


def _service(request: web.Request):
    svc = ctl(request).registry
    if svc is None:
        raise NotImplementedFeature("this daemon was started without registry access")
    return svc


def _announce(request: web.Request, action: str, ref: str) -> None:
    """Docker's image event (`docker events`: image pull/push NAME:TAG)."""
    name = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    ctl(request).event_feed.publish("image", action, ref, {"name": name})


async def _stream(request: web.Request, gen: AsyncIterator[dict],
                  first_is_marker: bool, action: str = "") -> web.StreamResponse:
    async with contextlib.aclosing(gen):
        first = await anext(gen, None)          # errors here: an HTTP status
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            if first and not first_is_marker:
                await resp.write(msgspec.json.encode(first) + b"\r\n")
            async for msg in gen:
                await resp.write(msgspec.json.encode(msg) + b"\r\n")
                text = msg.get("status", "")
                if action == "pull" and text.startswith("Status: ") and " for " in text:
                    _announce(request, "pull", text.rsplit(" for ", 1)[1])
                elif action == "push" and "aux" in msg:
                    _announce(request, "push", f"{request.match_info['name']}:"
                                               f"{msg['aux'].get('Tag', '')}")
        except BoxnetError as e:
            await resp.write(msgspec.json.encode(error(e.message)) + b"\r\n")
        except (ConnectionResetError, OSError) as e:
            log.info("progress stream to the client ended: %s", e)
            raise
        except Exception as e:  # noqa: BLE001 (reported to the client in the stream)
            log.exception("registry operation failed")
            await resp.write(msgspec.json.encode(error(f"internal error: {e}")) + b"\r\n")
    await resp.write_eof()
    return resp


async def pull(request: web.Request) -> web.StreamResponse:
    """POST /images/create?fromImage=&tag=&platform= (X-Registry-Auth)."""
    q = request.query
    for unsupported in ("repo", "changes", "message"):
        if q.get(unsupported):
            raise InvalidParameter(f"{unsupported}= applies to fromSrc imports, not to pulls")
    gen = _service(request).pull(q["fromImage"], q.get("tag", ""), q.get("platform", ""),
                                 request.headers.get("X-Registry-Auth"))
    return await _stream(request, gen, first_is_marker=True, action="pull")


async def push(request: web.Request) -> web.StreamResponse:
    """POST /images/{name}/push?tag= (X-Registry-Auth; without it anonymous, as moby
    master, whatever the API version: registry/auth.py check_push_body)."""
    if request.query.get("platform"):
        raise InvalidParameter("platform= is not supported for push: boxnet images have "
                               "one platform")
    if request.headers.get("X-Registry-Auth") is None:
        check_push_body(await request.read())
    gen = _service(request).push(request.match_info["name"], request.query.get("tag", ""),
                                 request.headers.get("X-Registry-Auth"))
    return await _stream(request, gen, first_is_marker=False, action="push")


async def auth(request: web.Request) -> web.Response:
    """POST /auth: check credentials with the registry (`docker login`)."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidParameter("POST /auth: the body is not JSON") from None
    return reply(await _service(request).login(body))


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/images/{name:.+}/push", push)
    add("POST", "/auth", auth)
