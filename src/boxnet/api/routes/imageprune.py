"""`POST /images/prune` (`docker image prune [-a] [--filter]`): remove unused
images, then the blobs no image uses any more.

Filters as dockerd: dangling=true (the default: untagged images only) or
dangling=false (`-a`: every image no container uses), until, label, label!.
Built-in images (busybox, boxnet/host: made by the daemon, no config.json)
are never pruned."""

from __future__ import annotations

import os

from aiohttp import web

from ...core.clock import parse_rfc3339
from .. import filters as flt
from .common import ctl, reply


async def prune(request: web.Request) -> web.Response:
    """POST /images/prune?filters=."""
    c = ctl(request)
    f = flt.parse(request.query.get("filters"), {"dangling", "until", "label", "label!"})
    dangling = (f.get("dangling") or ["true"])[-1].lower() in ("true", "1")
    until = flt.until_ts(f["until"][0]) if f.get("until") else None
    used = {x.image_id for x in c.containers.values()}
    deleted, space = [], 0
    for img in c.images.list():
        if img.id in used or img.readonly or (dangling and img.repo_tags):
            continue
        if not os.path.exists(os.path.join(c.images.image_dir(img.id), "config.json")):
            continue                                  # a built-in image
        if until is not None and parse_rfc3339(img.created) >= until:
            continue
        labels = img.config.Labels
        if "label" in f and not flt.match_labels(labels, f["label"]):
            continue
        if "label!" in f and not flt.match_label_negated(labels, f["label!"]):
            continue
        deleted += c.images.remove(img.id)
        space += img.size
    if c.registry is not None:
        before = c.registry.blobs.sizes()
        c.registry.gc()
        space += max(0, before - c.registry.blobs.sizes())
    return reply({"ImagesDeleted": deleted or None, "SpaceReclaimed": space})
