"""Image routes: list, inspect, import of a root filesystem tarball, load and
save of image archives, tag and remove."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile

from aiohttp import web

import msgspec

from ...errors import Conflict, InvalidParameter
from ...runtime.layerstream import Budget
from ...runtime.save import stream_archive
from .. import imagefilters
from .common import ctl, qbool, reply


async def list_images(request: web.Request) -> web.Response:
    """GET /images/json with dockerd's filters (api/imagefilters.py); `all` and
    `digests` change nothing here (no intermediate images; RepoDigests always
    sent), `shared-size` is refused: boxnet does not compute shared sizes."""
    if qbool(request, "shared-size"):
        raise InvalidParameter("shared-size is not supported by boxnet: image sizes are "
                               "not split into shared and unique parts")
    images = ctl(request).images
    chosen = imagefilters.apply(images.list(), request.query.get("filters"), images.get)
    return reply([img.summary() for img in chosen])


async def inspect(request: web.Request) -> web.Response:
    """GET /images/{name}/json."""
    return reply(ctl(request).images.get(request.match_info["name"]).inspect())


async def create(request: web.Request) -> web.StreamResponse:
    """POST /images/create?fromSrc=-&repo=&tag=: import the request body;
    with fromImage= a pull from a registry (registry.py)."""
    q = request.query
    if q.get("fromSrc") != "-":
        if q.get("fromImage"):
            from .registry import pull
            return await pull(request)
        raise InvalidParameter("fromSrc=- (the request body) is the only supported source")
    repo, tag = q.get("repo") or None, q.get("tag") or None
    if repo and ":" in repo.rsplit("/", 1)[-1] and not tag:
        repo, tag = repo.rsplit(":", 1)
    changes = q.getall("changes", [])
    tmp = await _spool(request, "boxnet-import-")
    try:
        images = ctl(request).images

        def do_import():
            with open(tmp, "rb") as src:
                return images.import_tar(src, repo, tag, changes)
        image_id = await asyncio.to_thread(do_import)
    finally:
        os.unlink(tmp)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"status":"' + str(image_id).encode() + b'"}\r\n')
    await resp.write_eof()
    return resp


async def _spool(request: web.Request, prefix: str = "boxnet-load-") -> str:
    """The request body in a temp file under the data root (its path); a
    body larger than the data root's free space (less a reserve) is a 400."""
    data_root = ctl(request).config.data_root
    budget = Budget(data_root)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=data_root)
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                budget.take(len(chunk), "the uploaded archive")
                f.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


async def load(request: web.Request) -> web.StreamResponse:
    """POST /images/load?quiet=: docker-archive or OCI-layout tarball."""
    tmp = await _spool(request)
    try:
        lines = await asyncio.to_thread(ctl(request).images.load_archive, tmp)
    finally:
        os.unlink(tmp)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for line in lines:
        await resp.write(msgspec.json.encode({"stream": line + "\n"}) + b"\r\n")
    await resp.write_eof()
    return resp


async def save(request: web.Request) -> web.StreamResponse:
    """GET /images/{name}/get and GET /images/get?names=A&names=B (`docker save`):
    a docker-archive tarball, streamed (see runtime/save.py)."""
    refs = ([request.match_info["name"]] if "name" in request.match_info
            else request.query.getall("names", []))
    if not refs:
        raise InvalidParameter("no image named: give at least one names= parameter")
    c = ctl(request)
    stream = stream_archive(c.images, refs, c.config.data_root)
    async with contextlib.aclosing(stream):
        first = await anext(stream, b"")    # unknown images: 404 before the 200 goes out
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await resp.prepare(request)
        await resp.write(first)
        async for chunk in stream:
            await resp.write(chunk)
    await resp.write_eof()
    return resp


async def tag(request: web.Request) -> web.Response:
    """POST /images/{name}/tag?repo=&tag=."""
    repo, tg = request.query.get("repo", ""), request.query.get("tag") or None
    ctl(request).images.tag(request.match_info["name"], repo, tg)
    return web.Response(status=201)


async def delete(request: web.Request) -> web.Response:
    """DELETE /images/{name}?force=: untag, delete when no tag is left."""
    c = ctl(request)
    img = c.images.get(request.match_info["name"])
    users = [x for x in c.containers.values() if x.image_id == img.id]
    ref = request.match_info["name"]
    by_id = img.id.startswith(ref) or img.id[7:].startswith(ref)
    if users and (by_id or len(img.repo_tags) <= 1) and not qbool(request, "force"):
        raise Conflict(f"conflict: unable to remove repository reference \"{ref}\" (must force) "
                       f"- container {users[0].id[:12]} is using its referenced image "
                       f"{img.id[7:19]}")
    if users and (by_id or len(img.repo_tags) <= 1):
        # forced: keep the files (containers run from them), drop the names only
        return reply([{"Untagged": t} for t in c.images.untag_all(img.id)])
    out = c.images.remove(ref)
    if c.registry is not None:
        c.registry.gc()        # blobs no image uses any more are freed
    return reply(out)


def add_routes(add) -> None:
    """Register this module's routes."""
    from .imageprune import prune
    add("POST", "/images/prune", prune)
    add("POST", "/images/load", load)
    add("GET", "/images/get", save)
    add("GET", "/images/{name:.+}/get", save)
    add("POST", "/images/{name:.+}/tag", tag)
    add("DELETE", "/images/{name:.+}", delete)
    add("GET", "/images/json", list_images)
    add("GET", "/images/{name:.+}/json", inspect)
    add("POST", "/images/create", create)
