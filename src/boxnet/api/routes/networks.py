"""Network routes: list, inspect, create, delete, connect, disconnect, prune."""

from __future__ import annotations


from aiohttp import web

from ...core import epopts
from ...core.clock import parse_rfc3339
from ...errors import InvalidParameter
from ...ipam.api import PoolRequest
from ...model import EndpointSettings
from .. import compat, filters as flt
from ..schemas import (NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
                       decode, decode_raw)
from ..unsupported import check_network_create
from ..views import network_json
from .common import ctl, qbool, reply
from .macaddr import check_mac

LIST_FILTERS = {"name", "id", "driver", "label", "type", "scope", "dangling"}


def _view(c, nw, with_containers: bool) -> dict:
    if not with_containers:
        return network_json(nw, None, c.containers)
    eps = list(c.eps_by_network.get(nw.id, {}).values())
    usage = [c.ipam.usage(p.subnet) for p in nw.pools]
    out = network_json(nw, eps, c.containers, usage)
    out.update(c.inspect_extras(nw, len(eps)))  # overlay: Docker's Peers, a pending removal
    return out


async def list_networks(request: web.Request) -> web.Response:
    """GET /networks."""
    c = ctl(request)
    f = flt.parse(request.query.get("filters"), LIST_FILTERS)
    used = c.used_network_ids() if "dangling" in f else set()
    out = []
    for nw in c.networks.values():
        if "name" in f and not any(v in nw.name for v in f["name"]):
            continue
        if "id" in f and not any(nw.id.startswith(v) for v in f["id"]):
            continue
        if "driver" in f and nw.driver not in f["driver"]:
            continue
        if "label" in f and not flt.match_labels(nw.labels, f["label"]):
            continue
        if "scope" in f and nw.scope not in f["scope"]:
            continue
        if "type" in f:
            for t in f["type"]:
                if t not in ("custom", "builtin"):
                    raise InvalidParameter(f"invalid filter: 'type'='{t}'")
            if ("builtin" if nw.predefined else "custom") not in f["type"]:
                continue
        if "dangling" in f:
            want = f["dangling"][0].lower() in ("1", "true")
            if (not nw.predefined and nw.id not in used) != want:
                continue
        out.append(_view(c, nw, False))
    out.sort(key=lambda n: n["Created"])

    def containers_of(nid: str) -> dict:   # for API versions before 1.28
        eps = list(c.eps_by_network.get(nid, {}).values())
        return network_json(c.networks[nid], eps, c.containers)["Containers"]
    return reply(compat.response(request, "network.list", out, containers_of=containers_of))


async def inspect_network(request: web.Request) -> web.Response:
    """GET /networks/{id}."""
    c = ctl(request)
    nw = c.network(request.match_info["id"])
    return reply(compat.response(request, "network.inspect", _view(c, nw, True)))


async def create_network(request: web.Request) -> web.Response:
    """POST /networks/create."""
    c = ctl(request)
    body = compat.request_body(request, "network.create", await request.read())
    req = decode(body, NetworkCreateRequest, "network create request")
    check_network_create(decode_raw(body))
    if not req.name:
        raise InvalidParameter("a network name is required")
    epopts.advertise_settings(req.options or {})   # dockerd's range checks (400)
    ipam_cfg = []
    for e in (req.ipam.config or []) if req.ipam else []:
        ipam_cfg.append(PoolRequest(subnet=e.subnet or None, ip_range=e.ip_range or None,
                                    gateway=e.gateway or None,
                                    aux_addresses=dict(e.auxiliary_addresses or {})))
    nw = await c.create_network(
        req.name, req.driver or "bridge", internal=bool(req.internal),
        attachable=bool(req.attachable),
        enable_ipv4=True if req.enable_i_pv4 is None else req.enable_i_pv4,
        enable_ipv6=bool(req.enable_i_pv6),
        ipam_driver=(req.ipam.driver if req.ipam and req.ipam.driver else "default"),
        ipam_config=ipam_cfg, ipam_options=(req.ipam.options if req.ipam else None),
        options=req.options, labels=req.labels)
    return reply({"Id": nw.id, "Warning": ""}, status=201)


async def delete_network(request: web.Request) -> web.Response:
    """DELETE /networks/{id}."""
    await ctl(request).remove_network(request.match_info["id"])
    return web.Response(status=204)


def settings_from(cfg) -> EndpointSettings:
    """EndpointConfig of the API -> the core's EndpointSettings."""
    st = EndpointSettings(network_id="")
    if cfg is None:
        return st
    if cfg.ipam_config:
        st.ipv4 = cfg.ipam_config.i_pv4_address or ""
        st.ipv6 = cfg.ipam_config.i_pv6_address or ""
        st.link_local_ips = list(cfg.ipam_config.link_local_i_ps or [])
    st.aliases = list(cfg.aliases or [])
    st.links = list(cfg.links or [])
    st.mac = cfg.mac_address or ""
    st.driver_opts = dict(cfg.driver_opts or {})
    st.gw_priority = cfg.gw_priority or 0
    epopts.check_known_keys(st.driver_opts)   # from a client: unknown keys are a 400
    epopts.check_settings(st)   # ifname, sysctls, link-local addresses: 400 if malformed
    return st


async def connect(request: web.Request) -> web.Response:
    """POST /networks/{id}/connect."""
    req = decode(await request.read(), NetworkConnectRequest, "network connect request")
    if not req.container:
        raise InvalidParameter("a container is required (Container)")
    st = settings_from(req.endpoint_config)
    if st.mac:   # a bad MAC is a 400 naming it, before anything is done
        st.mac = check_mac(st.mac, "EndpointConfig.MacAddress")
    await ctl(request).connect(request.match_info["id"], req.container, st)
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    """POST /networks/{id}/disconnect."""
    req = decode(await request.read(), NetworkDisconnectRequest, "network disconnect request")
    if not req.container:
        raise InvalidParameter("a container is required (Container)")
    await ctl(request).disconnect(request.match_info["id"], req.container, bool(req.force))
    return web.Response(status=200)


async def prune(request: web.Request) -> web.Response:
    """POST /networks/prune (filters: until, label, label!)."""
    c = ctl(request)
    f = flt.parse(request.query.get("filters"), {"until", "label", "label!"})
    until = flt.until_ts(f["until"][0]) if f.get("until") else None

    def keep(nw) -> bool:
        if until is not None and parse_rfc3339(nw.created) >= until:
            return True
        if "label" in f and not flt.match_labels(nw.labels, f["label"]):
            return True
        if "label!" in f and not flt.match_label_negated(nw.labels, f["label!"]):
            return True
        return False

    removed = await c.prune_networks(keep)
    return reply({"NetworksDeleted": removed})


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/networks", list_networks)
    add("GET", "/networks/{id}", inspect_network)
    add("POST", "/networks/create", create_network)
    add("DELETE", "/networks/{id}", delete_network)
    add("POST", "/networks/{id}/connect", connect)
    add("POST", "/networks/{id}/disconnect", disconnect)
    add("POST", "/networks/prune", prune)


