"""Disk usage: `docker system df` (GET /system/df) and the size fields of a
container (`inspect --size`, `ps --size`: SizeRw, SizeRootFs).

SizeRw is the bytes of the container's writable layer (the overlay's upper
directory; a private copy's whole root), SizeRootFs that plus its image's
size, as Docker counts them.  Volumes and their UsageData come from the
volume service (Controller.volumes_usage).  boxnet has no builder, so
BuildCache is always empty.  Sizes are measured in worker threads.
"""

from __future__ import annotations

from aiohttp import web

from ...core.clock import parse_rfc3339
from ...errors import InvalidParameter
from ..views import container_summary
from .common import ctl, reply
from .containers import published_ports, status_text
from .sizes import add_sizes

DF_TYPES = {"container", "image", "volume", "build-cache"}


async def system_df(request: web.Request) -> web.Response:
    """GET /system/df?type=: Images, Containers, Volumes, BuildCache, LayersSize."""
    c = ctl(request)
    types = set(request.query.getall("type", [])) or DF_TYPES
    if types - DF_TYPES:
        raise InvalidParameter(f"invalid type {sorted(types - DF_TYPES)[0]!r} (one of "
                               f"{', '.join(sorted(DF_TYPES))})")
    out: dict = {}
    images = c.images.list()
    if "image" in types:
        users: dict[str, int] = {}
        for cont in c.containers.values():
            users[cont.image_id] = users.get(cont.image_id, 0) + 1
        summaries = []
        for img in images:
            s = img.summary()
            s["Containers"], s["SharedSize"] = users.get(img.id, 0), 0
            summaries.append(s)
        out["LayersSize"] = sum(i.size for i in images)
        out["Images"] = summaries
    if "container" in types:
        conts = []
        for cont in sorted(c.containers.values(), key=lambda x: x.created, reverse=True):
            s = container_summary(cont, c.networks, c.eps_by_container.get(cont.id, {}),
                                  int(parse_rfc3339(cont.created)), status_text(cont),
                                  published=published_ports(c, cont.id))
            conts.append(await add_sizes(c, cont, s))
        out["Containers"] = conts
    if "volume" in types:
        out["Volumes"] = await c.volumes_usage()
    if "build-cache" in types:
        out["BuildCache"] = []
    return reply(out)


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/system/df", system_df)
