"""A container's size fields (SizeRw, SizeRootFs), for `inspect --size`, `ps
--size` and `system df`.

SizeRw is the bytes of the container's writable layer (the overlay's upper
directory; a private copy's whole root), SizeRootFs that plus its image's
size, as Docker counts them; measured in a worker thread, nothing mounted.
"""

from __future__ import annotations

import asyncio

from ...errors import NotFound
from ...runtime.tarimport import rootfs_size


async def container_sizes(c, cont) -> tuple[int, int]:
    """(SizeRw, SizeRootFs) of a container."""
    try:
        image = c.images.get(cont.image_id)
    except NotFound:
        image = None
    root = await c.runtime.writable_root(cont.id, image.rootfs if image else "",
                                         bool(image and image.readonly), mount=False)
    rw = await asyncio.to_thread(rootfs_size, root.upper) if root.upper else 0
    return rw, rw + (image.size if image else 0)


async def add_sizes(c, cont, doc: dict) -> dict:
    """`doc` (an inspect or summary) with SizeRw and SizeRootFs."""
    doc["SizeRw"], doc["SizeRootFs"] = await container_sizes(c, cont)
    return doc
