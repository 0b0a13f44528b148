"""The volume API: POST /volumes/create, GET /volumes, GET /volumes/{name},
DELETE /volumes/{name}?force=, POST /volumes/prune (Docker's JSON and codes)."""

from __future__ import annotations

from aiohttp import web

from ...errors import InvalidParameter
from ...volumes import filters as vfilters
from .. import filters as flt
from ..schemas import decode_raw
from .common import ctl, qbool, reply

CREATE_FIELDS = {"Name", "Driver", "DriverOpts", "Labels", "ClusterVolumeSpec"}


def _str_map(body: dict, key: str) -> dict[str, str]:
    val = body.get(key)
    if val is None:
        return {}
    if not isinstance(val, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in val.items()):
        raise InvalidParameter(f"{key} must be an object of strings (got {val!r})")
    return val


async def create(request: web.Request) -> web.Response:
    """POST /volumes/create: 201 with the Volume (the existing one if the name is taken)."""
    body = decode_raw(await request.read()) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise InvalidParameter("the volume create body must be a JSON object")
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise InvalidParameter(f"unknown field {unknown[0]!r} in the volume create request")
    if body.get("ClusterVolumeSpec"):
        raise InvalidParameter("ClusterVolumeSpec is not supported by boxnet: cluster volumes "
                               "are a swarm feature")
    name, driver = body.get("Name") or "", body.get("Driver") or "local"
    if not isinstance(name, str) or not isinstance(driver, str):
        raise InvalidParameter("Name and Driver must be strings")
    v = ctl(request).create_volume(name, driver, _str_map(body, "DriverOpts"),
                                   _str_map(body, "Labels"))
    return reply(v.json(), status=201)


async def listing(request: web.Request) -> web.Response:
    """GET /volumes?filters=: {"Volumes": [...], "Warnings": null}."""
    f = flt.parse(request.query.get("filters"), vfilters.LIST_KEYS)
    return reply({"Volumes": [v.json() for v in ctl(request).list_volumes(f)],
                  "Warnings": None})


async def inspect(request: web.Request) -> web.Response:
    """GET /volumes/{name}."""
    return reply(ctl(request).volume(request.match_info["name"]).json())


async def delete(request: web.Request) -> web.Response:
    """DELETE /volumes/{name}?force=: 204; 409 while a container uses it."""
    await ctl(request).remove_volume(request.match_info["name"], qbool(request, "force"))
    return web.Response(status=204)


def _before_1_42(version: str | None) -> bool:
    major, _, minor = (version or "").partition(".")
    return bool(version) and major.isdigit() and minor.isdigit() and \
        (int(major), int(minor)) < (1, 42)


async def prune(request: web.Request) -> web.Response:
    """POST /volumes/prune?filters=: {"VolumesDeleted": [...], "SpaceReclaimed": n}.
    Before API 1.42 prune removed named volumes too: an older client gets that
    (all=true) unless it says otherwise, as dockerd does."""
    f = flt.parse(request.query.get("filters"), vfilters.PRUNE_KEYS)
    if "all" not in f and _before_1_42(request.match_info.get("version")):
        f["all"] = ["true"]
    gone, space = await ctl(request).prune_volumes(f)
    return reply({"VolumesDeleted": gone or None, "SpaceReclaimed": space})


def add_routes(add) -> None:
    """Register the volume routes."""
    add("POST", "/volumes/create", create)
    add("GET", "/volumes", listing)
    add("POST", "/volumes/prune", prune)
    add("GET", "/volumes/{name}", inspect)
    add("DELETE", "/volumes/{name}", delete)
