"""Create and remove a project's networks through the Engine API.

Static addresses (`ipv4_address`, `ipv6_address`) are RESERVED when the network is
created, so no other container (of this project or not) can take them first. The Engine
API has no "reserve this address" call: auxiliary addresses stay reserved forever (a
container asking for one is refused), so that trick does not work. Instead, when the
network declares a subnet and no `ip_range`, compose sets `ip_range` to the largest
aligned block of the subnet that holds none of the static addresses: the daemon hands out
dynamic addresses only from the ip-range, while a container may still ask for any
address of the subnet (Docker's rule too). The gateway is pinned to the subnet's first
address so it does not move into the range. When the file sets its own `ip_range`
containing a static address, the only guard left is order: `up` starts the services
with static addresses first (see project.py).
"""

from __future__ import annotations

import ipaddress

from ..client.engine import Client
from ..client.errors import APIError
from . import engine, parallel
from . import labels as L
from .errors import ProjectError
from .model import NetworkSpec, Project


def static_addresses(project: Project, key: str) -> list:
    """Every static address the project's services ask for on a network key."""
    out = []
    for svc in project.services.values():
        sn = svc.networks.get(key)
        if sn is None:
            continue
        for a in (sn.ipv4_address, sn.ipv6_address):
            if a:
                out.append(ipaddress.ip_address(a))
    return out


def reserving_range(subnet, statics: list):
    """The largest aligned block of `subnet` holding none of `statics` (or None)."""
    statics = [a for a in statics if a in subnet]
    if not statics:
        return None
    max_len = subnet.max_prefixlen - (2 if subnet.version == 4 else 1)
    for plen in range(subnet.prefixlen + 1, max_len + 1):
        for block in subnet.subnets(new_prefix=plen):
            if not any(a in block for a in statics):
                return block
    return None


def _ipam_config(project: Project, nw: NetworkSpec) -> list[dict]:
    statics = static_addresses(project, nw.key)
    out = []
    for cfg in nw.ipam_config:
        entry = {"Subnet": cfg.get("subnet"), "IPRange": cfg.get("ip_range"),
                 "Gateway": cfg.get("gateway"),
                 "AuxiliaryAddresses": cfg.get("aux_addresses") or None}
        if cfg.get("subnet") and not cfg.get("ip_range") and statics:
            subnet = ipaddress.ip_network(str(cfg["subnet"]))
            block = reserving_range(subnet, statics)
            if block is not None:
                entry["IPRange"] = str(block)
                if not entry["Gateway"]:
                    first = next(subnet.hosts())
                    if first not in statics:
                        entry["Gateway"] = str(first)
        out.append({k: v for k, v in entry.items() if v})
    return out


def create_body(project: Project, nw: NetworkSpec) -> dict:
    """The POST /networks/create body for a declared network."""
    body = {"Name": nw.name, "Driver": nw.driver or "bridge", "CheckDuplicate": True,
            "Internal": nw.internal, "Attachable": nw.attachable,
            "Labels": L.network_labels(project, nw), "Options": nw.driver_opts}
    if nw.enable_ipv6 is not None:
        body["EnableIPv6"] = bool(nw.enable_ipv6)
    if nw.enable_ipv4 is not None:   # as compose v2: sent only when the file says
        body["EnableIPv4"] = bool(nw.enable_ipv4)
    if nw.ipam_config or nw.ipam_driver or nw.ipam_options:
        body["IPAM"] = {"Driver": nw.ipam_driver or "default",
                        "Config": _ipam_config(project, nw), "Options": nw.ipam_options}
    return body


def ensure(client: Client, project: Project, nw: NetworkSpec, log) -> str:
    """Make sure a network exists (create it if compose owns it); return its id."""
    found = engine.network(client, nw.name)
    if nw.external:
        if found is None:
            raise ProjectError(f"network {nw.name} declared as external, but could not be "
                               f"found (networks.{nw.key}): create it first with "
                               f"`boxnet network create {nw.name}` or drop `external: true`")
        return found["Id"]
    if found is not None:
        lbl = found.get("Labels") or {}
        if lbl.get(L.PROJECT, project.name) != project.name or \
                lbl.get(L.NETWORK, nw.key) != nw.key:
            raise ProjectError(f"network {nw.name} was found but has incorrect label "
                               f"{L.NETWORK} set to {lbl.get(L.NETWORK)!r} (project "
                               f"{lbl.get(L.PROJECT)!r}): remove it or use `external: true`")
        if L.PROJECT not in lbl:
            log(f"WARN a network with name {nw.name} exists but was not created by compose; "
                "set `external: true` to use an existing network")
        elif lbl.get(L.HASH) and lbl[L.HASH] != L.network_hash(nw):
            log(f"WARN network {nw.name} exists with a different configuration: "
                "run `down` then `up` to apply it")
        return found["Id"]
    try:
        nid = client.post("/networks/create", create_body(project, nw))["Id"]
    except APIError as e:
        raise ProjectError(f"network {nw.name} (networks.{nw.key}): {e.message}") from None
    log(f"Network {nw.name}  Created")
    return nid


def remove(client: Client, project: Project, log) -> list[str]:
    """Remove the networks this project created (never external ones); return errors."""
    errors: list[str] = []
    declared = {nw.name: nw for nw in project.networks.values()}

    def one(found: dict) -> None:
        name = found["Name"]
        nw = declared.get(name)
        if nw is not None and nw.external:
            return
        try:
            client.delete(f"/networks/{found['Id']}")
            log(f"Network {name}  Removed")
        except APIError as e:
            if e.status != 404:
                errors.append(f"network {name}: {e.message}")

    parallel.each(one, engine.networks(client, project.name))
    return errors
