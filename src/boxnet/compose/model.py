"""The compose project as typed objects, built from the merged, validated document.

Names follow Docker Compose: networks are `<project>_<key>` unless `name:` is set,
containers `<project>-<service>-<n>` unless `container_name:` is set, and a service with
neither `networks` nor `network_mode` joins the `default` network.
"""

from __future__ import annotations

import re
from .records import factory, record

IFNAME_OPT = "com.docker.network.endpoint.ifname"   # the engine's endpoint option


@record
class NetworkSpec:
    """A top-level `networks:` entry."""

    key: str
    name: str
    driver: str = ""
    driver_opts: dict = factory(dict)
    ipam_driver: str = ""
    ipam_config: list = factory(list)   # [{subnet, ip_range, gateway, aux_addresses}]
    ipam_options: dict = factory(dict)
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool | None = None
    enable_ipv4: bool | None = None    # false: an IPv6-only network (EnableIPv4, API 1.48)
    labels: dict = factory(dict)
    external: bool = False
    raw: dict = factory(dict)


@record
class ServiceNetwork:
    """One network a service joins, with its per-network settings."""

    key: str
    aliases: list = factory(list)
    ipv4_address: str = ""
    ipv6_address: str = ""
    priority: int = 0
    gw_priority: int = 0
    mac_address: str = ""
    driver_opts: dict = factory(dict)
    link_local_ips: list = factory(list)


@record
class Service:
    """A `services:` entry, with its list-or-map fields normalised."""

    name: str
    raw: dict
    image: str = ""
    build: object = None
    networks: dict = factory(dict)     # key -> ServiceNetwork, priority order
    network_mode: str = ""
    replicas: int = 1
    depends_on: dict = factory(dict)   # name -> {condition, required, restart}
    environment: dict = factory(dict)
    labels: dict = factory(dict)
    ports: list = factory(list)
    expose: list = factory(list)
    extra_hosts: list = factory(list)
    links: list = factory(list)
    container_name: str = ""

    def get(self, key: str, default=None):
        """A raw field of the service."""
        return self.raw.get(key, default)


@record
class Project:
    """A loaded compose project."""

    name: str
    working_dir: str
    files: list
    services: dict          # name -> Service, in file order
    networks: dict          # key -> NetworkSpec (only the ones used or declared)
    data: dict              # the merged document (for `config` and the hash)
    lines: list             # [(file, {path: line})] for locating later errors
    warnings: list = factory(list)
    volumes: dict = factory(dict)   # key -> VolumeSpec (compose/volumes.py)

    def container_name(self, svc: Service, number: int) -> str:
        """`<project>-<service>-<n>`, or the service's container_name."""
        return svc.container_name or f"{self.name}-{svc.name}-{number}"

    def network_name(self, key: str) -> str:
        """The engine's name of a network key."""
        return self.networks[key].name

    def locate(self, path) -> tuple[str | None, int | None]:
        """(file, line) of the last file that defines this path (or its nearest parent)."""
        path = tuple(path)
        for file, lines in reversed(self.lines):
            p = path
            while p:
                if p in lines:
                    return file, lines[p]
                p = p[:-1]
        return (self.lines[0][0] if self.lines else None), None


_PROJECT_BAD = re.compile(r"[^a-z0-9_-]")


def normalize_project_name(name: str) -> str:
    """Docker Compose's rule: lowercase, only [a-z0-9_-], starting with a letter or digit."""
    name = _PROJECT_BAD.sub("", name.lower())
    return name.lstrip("_-")


def as_list(value) -> list:
    """A string-or-list field as a list (None -> [])."""
    if value is None:
        return []
    return [value] if isinstance(value, (str, int)) else list(value)


def network_spec(key: str, data: dict | None, project: str) -> NetworkSpec:
    """Build a NetworkSpec from its document entry."""
    data = data or {}
    ext = data.get("external")
    external = bool(ext.get("name") if isinstance(ext, dict) else ext)
    name = data.get("name") or (ext.get("name") if isinstance(ext, dict) else None)
    if not name:
        name = key if external else f"{project}_{key}"
    ipam = data.get("ipam") or {}
    labels = data.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(x.partition("=")[::2] for x in labels)
    return NetworkSpec(
        key=key, name=str(name), driver=data.get("driver") or "",
        driver_opts={k: str(v) for k, v in (data.get("driver_opts") or {}).items()},
        ipam_driver=ipam.get("driver") or "", ipam_config=list(ipam.get("config") or []),
        ipam_options=dict(ipam.get("options") or {}), internal=bool(data.get("internal")),
        attachable=bool(data.get("attachable")), enable_ipv6=data.get("enable_ipv6"),
        enable_ipv4=data.get("enable_ipv4"),
        labels={k: str(v) for k, v in labels.items()}, external=external, raw=data)


def service_networks(svc_raw: dict) -> dict:
    """The service's networks as {key: ServiceNetwork}, highest priority first."""
    nets = svc_raw.get("networks") or {}
    if isinstance(nets, list):
        nets = {n: None for n in nets}
    out = []
    for i, (key, cfg) in enumerate(nets.items()):
        cfg = cfg or {}
        out.append((-(cfg.get("priority") or 0), i, ServiceNetwork(
            key=key, aliases=[str(a) for a in cfg.get("aliases") or []],
            ipv4_address=cfg.get("ipv4_address") or "",
            ipv6_address=cfg.get("ipv6_address") or "",
            priority=int(cfg.get("priority") or 0), gw_priority=int(cfg.get("gw_priority") or 0),
            mac_address=cfg.get("mac_address") or "",
            # interface_name goes as compose v2 sends it: the endpoint's ifname option
            driver_opts={**{k: str(v) for k, v in (cfg.get("driver_opts") or {}).items()},
                         **({IFNAME_OPT: str(cfg["interface_name"])}
                            if cfg.get("interface_name") else {})},
            link_local_ips=list(cfg.get("link_local_ips") or []))))
    return {sn.key: sn for _, _, sn in sorted(out, key=lambda t: (t[0], t[1]))}
