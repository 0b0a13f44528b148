"""Image routes: list, inspect, and import of a root filesystem tarball."""

from __future__ import annotations

import asyncio
import os
import tempfile

from aiohttp import web

from ...errors import InvalidParameter, NotImplementedFeature
from .common import ctl, reply


async def list_images(request: web.Request) -> web.Response:
    """GET /images/json."""
    return reply([img.summary() for img in ctl(request).images.list()])


async def inspect(request: web.Request) -> web.Response:
    """GET /images/{name}/json."""
    return reply(ctl(request).images.get(request.match_info["name"]).inspect())


async def create(request: web.Request) -> web.StreamResponse:
    """POST /images/create?fromSrc=-&repo=&tag=: import the request body.

    Pulling from a registry (fromImage) is not possible on a host without one,
    so it gets a clear 501."""
    q = request.query
    if q.get("fromSrc") != "-":
        if q.get("fromImage"):
            raise NotImplementedFeature(
                f"pulling images is not supported (no registry): import a root filesystem "
                f"tarball instead (boxnet image import FILE {q.get('fromImage')})")
        raise InvalidParameter("fromSrc=- (the request body) is the only supported source")
    repo, tag = q.get("repo") or None, q.get("tag") or None
    if repo and ":" in repo.rsplit("/", 1)[-1] and not tag:
        repo, tag = repo.rsplit(":", 1)
    changes = q.getall("changes", [])
    fd, tmp = tempfile.mkstemp(prefix="boxnet-import-", dir=ctl(request).config.data_root)
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                f.write(chunk)
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


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/images/json", list_images)
    add("GET", "/images/{name:.+}/json", inspect)
    add("POST", "/images/create", create)
