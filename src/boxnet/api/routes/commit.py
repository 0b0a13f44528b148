"""A container's layer: `docker diff` (GET /containers/{id}/changes), `docker
export` (GET /containers/{id}/export), `docker commit` (POST /commit) and
`docker history` (GET /images/{name}/history).

They read the container's root on the host side (Runtime.writable_root: the
overlay of its image and writable layer, mounted if needed); the filesystem
work runs in worker threads (runtime/diff.py, runtime/cp.py, runtime/commit.py).
A container whose root is a private copy (overlay refused by the filesystem)
has no separate layer: diff is a 501 for it; a read-only bound root (boxnet/host)
has no changes.
"""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from ...errors import InvalidParameter, NotImplementedFeature
from ...runtime import commit as commits
from ...runtime import cp
from ...runtime.diff import changes as layer_changes
from ...runtime.imagemeta import ImageConfig
from .common import ctl, qbool, reply
from .tarstream import stream_from_thread

# The body of POST /commit: a container config whose image-level fields are taken.
_CONFIG_FIELDS = {"Cmd": "Cmd", "Entrypoint": "Entrypoint", "Env": "Env",
                  "WorkingDir": "WorkingDir", "Labels": "Labels",
                  "ExposedPorts": "ExposedPorts", "User": "User"}
# Sent by clients with their zero values; anything else set is refused by name.
_IGNORABLE_EMPTY = {"Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr",
                    "Tty", "OpenStdin", "StdinOnce", "Image", "Volumes", "OnBuild",
                    "StopSignal", "Healthcheck", "Shell", "ArgsEscaped", "NetworkDisabled",
                    "MacAddress", "StopTimeout"}


async def _root(request: web.Request, cont):
    c = ctl(request)
    image = c.images.get(cont.image_id)
    return image, await c.runtime.writable_root(cont.id, image.rootfs, image.readonly)


def _mount_points(cont) -> set[str]:
    """Container paths the runtime mounts over (left out of the diff)."""
    out = {m.destination for m in getattr(cont, "mounts", None) or []}
    out |= {b.split(":")[1] for b in cont.config.binds if len(b.split(":")) >= 2}
    return out


async def changes(request: web.Request) -> web.Response:
    """GET /containers/{id}/changes: [{"Path", "Kind"}] (0 modified, 1 added, 2 deleted)."""
    cont = ctl(request).container(request.match_info["id"])
    image, root = await _root(request, cont)
    if root.mode == "bind":
        return reply([])
    if not root.upper:
        raise NotImplementedFeature("docker diff is not available for this container: its root "
                                    "is a private copy of the image (overlayfs was refused)")
    out = await asyncio.to_thread(layer_changes, root.upper, image.rootfs, _mount_points(cont))
    return reply(out or None)


async def export(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/export: a tar of the container's whole root."""
    cont = ctl(request).container(request.match_info["id"])
    _, root = await _root(request, cont)
    if root.mode == "bind":
        raise InvalidParameter("the root of a container of the boxnet/host image is the host's: "
                               "it is not exported")
    resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
    await stream_from_thread(request, resp, lambda push: cp.export_root(root.rootfs, push))
    return resp


def _body_config(raw: bytes) -> dict:
    """The image-level fields of the optional container config body."""
    if not raw.strip():
        return {}
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise InvalidParameter(f"invalid JSON body: {e}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidParameter("the body of POST /commit must be a container config object")
    out = {}
    for k, v in doc.items():
        if k in _CONFIG_FIELDS:
            if v not in (None, "", [], {}):
                out[k] = v
        elif k in _IGNORABLE_EMPTY or v in (None, "", [], {}, False, 0):
            if v not in (None, "", [], {}, False, 0):
                raise InvalidParameter(f"commit: config field {k} is not supported by boxnet's "
                                       f"commit (set Cmd, Entrypoint, Env, WorkingDir, Labels, "
                                       f"ExposedPorts or User, or use changes=)")
        else:
            raise InvalidParameter(f"commit: unknown config field {k}")
    return out


def _apply_body(cfg: ImageConfig, body: dict) -> ImageConfig:
    try:
        return msgspec.convert({**msgspec.to_builtins(cfg), **body}, ImageConfig)
    except msgspec.ValidationError as e:
        raise InvalidParameter(f"commit: invalid config: {e}") from None


async def commit(request: web.Request) -> web.Response:
    """POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=."""
    c = ctl(request)
    ref = request.query.get("container", "")
    if not ref:
        raise InvalidParameter("commit: the container is required (container=)")
    cont = c.container(ref)
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    if tag and not repo:
        raise InvalidParameter("commit: a tag needs a repository (repo=)")
    name = f"{repo}:{tag}" if tag else repo or None
    wanted = [line for v in request.query.getall("changes", []) for line in v.splitlines()
              if line.strip()]
    body = _body_config(await request.read())
    # Already paused (docker pause): it stays so, and is not paused twice.
    pause = qbool(request, "pause", True) and cont.status == "running" and \
        not getattr(cont, "paused", False)
    image, root = await _root(request, cont)
    if root.mode == "bind":
        raise InvalidParameter("a container of the boxnet/host image cannot be committed: its "
                               "root is the host's")
    overrides = (lambda cfg: _apply_body(cfg, body)) if body else None
    if pause:
        try:
            await c.runtime.pause(cont.id)
        except NotImplementedError as e:
            raise NotImplementedFeature(f"commit: the container cannot be paused ({e}); "
                                        f"commit with pause=false") from None
    try:
        image_id = await asyncio.to_thread(
            commits.commit, c.images, image, cont, root.rootfs, root.upper, wanted,
            request.query.get("comment", ""), request.query.get("author", ""), name, overrides)
    finally:
        if pause:
            await c.runtime.resume(cont.id)
    return reply({"Id": image_id}, status=201)


async def history(request: web.Request) -> web.Response:
    """GET /images/{name}/history."""
    c = ctl(request)
    img = c.images.get(request.match_info["name"])
    return reply(await asyncio.to_thread(commits.history, c.images, img))


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/containers/{id}/changes", changes)
    add("GET", "/containers/{id}/export", export)
    add("POST", "/commit", commit)
    add("GET", "/images/{name:.+}/history", history)
