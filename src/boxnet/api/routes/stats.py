"""Container resource routes: stats (stream and one-shot), top, update, pause
and unpause (core/resources.py does the work)."""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from ...core.statsview import stats_json
from ...errors import InvalidParameter
from ...model import RestartPolicy
from ...runtime.resources import UPDATABLE
from .. import compat
from ..schemas import decode_raw
from ..unsupported import unset
from .common import ctl, qbool, reply
from .container_create import RESTART_NAMES

_enc = msgspec.json.Encoder()
STREAM_INTERVAL = 1.0    # s between two streamed readings, as dockerd
PRECPU_INTERVAL = 0.1    # s between the two readings of stream=false (Docker waits ~1-2 s)
# Docker's Resources fields `docker update` may send but boxnet does not change.
NOT_UPDATABLE = ("CgroupParent", "BlkioWeightDevice", "BlkioDeviceReadBps",
                 "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
                 "CpuRealtimePeriod", "CpuRealtimeRuntime", "Devices", "DeviceCgroupRules",
                 "DeviceRequests", "KernelMemory", "KernelMemoryTCP", "MemorySwappiness",
                 "OomKillDisable", "Init", "Ulimits", "CpuCount", "CpuPercent",
                 "IOMaximumIOps", "IOMaximumBandwidth")


async def stats(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/stats?stream=&one-shot=: Docker's stats objects, one
    per line every second (stream, the default), or one (stream=false: precpu
    from a reading 0.1 s before; one-shot=true: at once, no precpu)."""
    c = ctl(request)
    cont = c.container(request.match_info["id"])   # 404 when unknown; then by id
    stream = qbool(request, "stream", True)
    one_shot = qbool(request, "one-shot")
    if one_shot and stream:
        raise InvalidParameter("cannot have stream=true and one-shot=true")
    host_mem = c.host_memory()

    async def reading(pre):
        cur = await c.stats_sample(cont.id)
        return cur, stats_json(cont.name, cont.id, cur, pre, host_mem)

    if not stream:
        pre = None
        if not one_shot:
            pre = await c.stats_sample(cont.id)
            if pre is not None:
                await asyncio.sleep(PRECPU_INTERVAL)
        _, body = await reading(pre)
        return reply(body)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    pre = await c.stats_sample(cont.id)
    await asyncio.sleep(PRECPU_INTERVAL)
    try:
        while True:
            cur, body = await reading(pre)
            await resp.write(_enc.encode(body) + b"\n")
            if cur is None:    # not running (any more): Docker ends the stream
                break
            pre = cur
            await asyncio.sleep(STREAM_INTERVAL)
    except ConnectionError:
        return resp   # the client left
    await resp.write_eof()
    return resp


async def top(request: web.Request) -> web.Response:
    """GET /containers/{id}/top?ps_args=."""
    return reply(await ctl(request).container_top(request.match_info["id"],
                                                  request.query.get("ps_args", "")))


def _restart_policy(raw) -> RestartPolicy | None:
    """The update's RestartPolicy (None: unchanged), checked as at create."""
    if raw is None or (isinstance(raw, dict) and not raw.get("Name")):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("Name"), str):
        raise InvalidParameter(f"invalid RestartPolicy {raw!r}")
    name, count = raw["Name"], raw.get("MaximumRetryCount") or 0
    if name not in RESTART_NAMES:
        raise InvalidParameter(f"invalid restart policy '{name}'")
    if not isinstance(count, int) or count < 0 or (count and name != "on-failure"):
        raise InvalidParameter("maximum retry count can only be used with 'on-failure' "
                               "and cannot be negative")
    return RestartPolicy(name=name, maximum_retry_count=count)


async def update(request: web.Request) -> web.Response:
    """POST /containers/{id}/update: Resources and RestartPolicy; {"Warnings": []}."""
    body = decode_raw(compat.request_body(request, "container.update", await request.read()))
    if not isinstance(body, dict):
        raise InvalidParameter("the update request must be a JSON object")
    for key in NOT_UPDATABLE:
        if key in body and not unset(body[key]) and not (key == "MemorySwappiness"
                                                          and body[key] == -1):
            raise InvalidParameter(f"{key} cannot be updated by boxnet (got {body[key]!r})")
    changes = {k: body[k] for k in UPDATABLE if k in body}
    restart = _restart_policy(body.get("RestartPolicy"))
    warnings = await ctl(request).update_container(request.match_info["id"], changes, restart)
    return reply({"Warnings": warnings})


async def pause(request: web.Request) -> web.Response:
    """POST /containers/{id}/pause."""
    await ctl(request).pause_container(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    """POST /containers/{id}/unpause."""
    await ctl(request).unpause_container(request.match_info["id"])
    return web.Response(status=204)


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/containers/{id}/stats", stats)
    add("GET", "/containers/{id}/top", top)
    add("POST", "/containers/{id}/update", update)
    add("POST", "/containers/{id}/pause", pause)
    add("POST", "/containers/{id}/unpause", unpause)
