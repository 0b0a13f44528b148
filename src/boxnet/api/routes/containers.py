"""Container routes: create, start, stop, kill, restart, wait, delete, prune,
inspect, list and logs."""

from __future__ import annotations

import math
import signal as signals
import time

from aiohttp import web

from ...core.clock import parse_rfc3339
from ...core import health
from ...errors import InvalidParameter, NotModified
from .. import filters as flt
from ..params import query_signal
from ..views import container_inspect, container_summary, state_name
from ..versions import request_version, text as vtext
from .. import compat
from .common import ctl, qbool, qint, reply
from .container_create import build_create
from .sizes import add_sizes
from .logs import stream_logs

LIST_FILTERS = {"name", "id", "label", "network", "status", "ancestor", "exited", "before",
                "since", "health", "volume", "expose", "publish", "isolation", "is-task"}
STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}


def _ago(ts: str) -> str:
    secs = max(0, time.time() - parse_rfc3339(ts))
    for unit, n in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= 2 * n:
            return f"{int(secs // n)} {unit}"
    if secs >= 60:
        return "About a minute"
    if secs < 1:
        return "Less than a second"
    return "1 second" if int(secs) == 1 else f"{int(secs)} seconds"


def status_text(c) -> str:
    """Docker's human Status column ("Up 3 seconds", "Exited (0) 5 seconds ago")."""
    if c.status == "running":
        return "Up " + _ago(c.started_at) + (" (Paused)" if c.paused else
                                              health.status_suffix(c.health))
    if c.status == "exited":
        return f"Exited ({c.exit_code}) {_ago(c.finished_at)} ago"
    return c.status.capitalize()


def _inspect(c, cont) -> dict:
    from ...core import netmode, sandbox
    eps = c.eps_by_container.get(cont.id, {})
    # A container: sharer uses its owner's /etc files (bind-mounted), as Docker shows.
    owner = netmode.sandbox_owner(c, cont)
    cdir = sandbox.container_dir(c.config.containers_dir, owner.id)
    return container_inspect(cont, c.networks, eps, cont.config.image,
                             sandbox.etc_paths(cdir), c.runtime.log_paths(cont.id)[0],
                             published=_published(c, cont.id))


def _published(c, cid: str) -> list:
    """Host ports held for a container."""
    return c.ports.bindings(cid)


published_ports = _published   # for api/routes/df.py's summaries


async def create(request: web.Request) -> web.Response:
    """POST /containers/create?name=."""
    c = ctl(request)
    body = compat.request_body(request, "container.create", await request.read())
    name, cfg, endpoints = build_create(body, request.query.get("name"),
                                        vtext(request_version(request)))
    warnings = c.policy.check_create(name, cfg)   # com.boxnet.policy: 400s, unmatched names
    cont = await c.create_container(name, cfg, endpoints)
    return reply({"Id": cont.id, "Warnings": warnings}, status=201)


async def start(request: web.Request) -> web.Response:
    """POST /containers/{id}/start."""
    try:
        await ctl(request).start_container(request.match_info["id"])
    except NotModified:
        return web.Response(status=304)
    return web.Response(status=204)


def stop_args(request: web.Request) -> tuple[float | None, int | None]:
    """stop/restart `t` (seconds; -1: wait for the exit however long it takes, as
    Docker; absent: the container's StopTimeout, else 10) and `signal` (absent: the
    container's StopSignal, else the image's, else SIGTERM)."""
    sig = query_signal(request, "signal", None)
    t = qint(request, "t", None, lo=-1)
    return (math.inf if t == -1 else t), sig


async def stop(request: web.Request) -> web.Response:
    """POST /containers/{id}/stop?t=&signal=."""
    timeout, sig = stop_args(request)
    try:
        await ctl(request).stop_container(request.match_info["id"], timeout, sig)
    except NotModified:
        return web.Response(status=304)
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    """POST /containers/{id}/kill?signal= (a name or number; SIGKILL if absent)."""
    await ctl(request).kill_container(request.match_info["id"],
                                      query_signal(request, "signal", signals.SIGKILL))
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    """POST /containers/{id}/restart?t=&signal=."""
    c = ctl(request)
    ref = request.match_info["id"]
    timeout, sig = stop_args(request)
    try:
        await c.stop_container(ref, timeout, sig)
    except NotModified:
        pass
    await c.start_container(ref)
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    """POST /containers/{id}/wait?condition=not-running|next-exit|removed."""
    c = ctl(request)
    cont = c.container(request.match_info["id"])
    cond = request.query.get("condition", "not-running")
    if cond not in ("not-running", "next-exit", "removed"):
        raise InvalidParameter(f"invalid condition {cond!r}")
    # `docker run` asks for next-exit or removed (--rm) before start.
    fut = c.removed_future(cont) if cond == "removed" else \
        c.wait_future(cont, next_exit=cond != "not-running" and cont.status != "running")
    # Headers go out at once, as dockerd does: `docker run` waits for them
    # before it sends start, so a buffered reply would deadlock the CLI.
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await resp.prepare(request)
        code = await fut
    finally:
        fut.cancel()   # a client that left is no longer waited for (no-op once resolved)
    try:
        await resp.write(b'{"StatusCode":%d}\n' % code)
        await resp.write_eof()
    except ConnectionError:
        pass  # the client left (docker run -d does not read the result)
    return resp


async def delete(request: web.Request) -> web.Response:
    """DELETE /containers/{id}?force=&v= (v: its anonymous volumes too)."""
    await ctl(request).remove_container(request.match_info["id"], qbool(request, "force"),
                                        volumes=qbool(request, "v"))
    return web.Response(status=204)


async def inspect(request: web.Request) -> web.Response:
    """GET /containers/{id}/json."""
    c = ctl(request)
    cont = c.container(request.match_info["id"])
    doc = _inspect(c, cont)
    if qbool(request, "size"):   # SizeRw, SizeRootFs (api/routes/df.py)
        await add_sizes(c, cont, doc)
    return reply(compat.response(request, "container.inspect", doc, container=cont,
                                 networks=c.networks))


def _matches(c, cont, f) -> bool:
    if "name" in f and not any(v.lstrip("/") in cont.name for v in f["name"]):
        return False
    if "id" in f and not any(cont.id.startswith(v) for v in f["id"]):
        return False
    if "label" in f and not flt.match_labels(cont.config.labels, f["label"]):
        return False
    if "status" in f:
        for s in f["status"]:
            if s not in STATUSES:
                raise InvalidParameter(f"invalid filter 'status={s}'")
        if state_name(cont) not in f["status"]:
            return False
    if "network" in f:
        names = set()
        for nid in cont.networks:
            nw = c.networks.get(nid)
            if nw:
                names.update((nw.name, nw.id))
        if not any(v in names or any(n.startswith(v) for n in names) for v in f["network"]):
            return False
    if "exited" in f and (cont.status != "exited" or str(cont.exit_code) not in f["exited"]):
        return False
    if "ancestor" in f and cont.config.image not in f["ancestor"] and cont.image_id not in f["ancestor"]:
        return False
    if "health" in f:
        if health.filter_value(cont.health) not in f["health"]:
            return False
    if "volume" in f and not any(v in (m.name or m.source, m.destination)
                                 for m in cont.mounts for v in f["volume"]):
        return False   # dockerd's rule: a volume's name (a bind's source) or a destination
    return True


async def list_containers(request: web.Request) -> web.Response:
    """GET /containers/json?all=&filters=&limit=."""
    c = ctl(request)
    f = flt.parse(request.query.get("filters"), LIST_FILTERS)
    health.check_filter(f.get("health", []))
    show_all = qbool(request, "all") or "status" in f or "exited" in f
    out = []
    for cont in sorted(c.containers.values(), key=lambda x: x.created, reverse=True):
        if not show_all and cont.status != "running":
            continue
        if not _matches(c, cont, f):
            continue
        out.append(container_summary(cont, c.networks, c.eps_by_container.get(cont.id, {}),
                                     int(parse_rfc3339(cont.created)), status_text(cont),
                                     published=_published(c, cont.id)))
        if qbool(request, "size"):   # `ps --size` (api/routes/df.py)
            await add_sizes(c, cont, out[-1])
    limit = qint(request, "limit", -1, lo=-1)
    if limit and limit > 0:
        out = out[:limit]
    return reply(compat.response(request, "container.list", out))


async def rename(request: web.Request) -> web.Response:
    """POST /containers/{id}/rename?name=."""
    name = request.query.get("name", "")
    if not name:
        raise InvalidParameter("a new name is required (name=)")
    await ctl(request).rename_container(request.match_info["id"], name)
    return web.Response(status=204)


async def logs(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/logs."""
    return await stream_logs(request)


async def prune(request: web.Request) -> web.Response:
    """POST /containers/prune: remove every container that is not running
    (filters: until, label, label!), as `docker container prune` does."""
    c = ctl(request)
    f = flt.parse(request.query.get("filters"), {"until", "label", "label!"})
    until = flt.until_ts(f["until"][0]) if f.get("until") else None
    removed = []
    for cont in list(c.containers.values()):
        if cont.status not in ("created", "exited", "dead"):
            continue
        if until is not None and parse_rfc3339(cont.created) >= until:
            continue
        labels = cont.config.labels
        if "label" in f and not flt.match_labels(labels, f["label"]):
            continue
        if "label!" in f and not flt.match_label_negated(labels, f["label!"]):
            continue
        await c.remove_container(cont.id)
        removed.append(cont.id)
    return reply({"ContainersDeleted": removed or None, "SpaceReclaimed": 0})


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/containers/create", create)
    add("POST", "/containers/prune", prune)
    add("GET", "/containers/json", list_containers)
    add("GET", "/containers/{id}/json", inspect)
    add("POST", "/containers/{id}/start", start)
    add("POST", "/containers/{id}/stop", stop)
    add("POST", "/containers/{id}/kill", kill)
    add("POST", "/containers/{id}/restart", restart)
    add("POST", "/containers/{id}/wait", wait)
    add("DELETE", "/containers/{id}", delete)
    add("GET", "/containers/{id}/logs", logs)
    add("POST", "/containers/{id}/rename", rename)
