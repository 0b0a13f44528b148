"""`compose lint`: production networking practices, as findings with their file and line.

Rules (id: what it flags):
- no-segmentation: two or more services and every one of them on the same single network.
- host-network: `network_mode: host` (no isolation at all: keep it a documented exception).
- hardcoded-ip: an IP literal in `environment`, `command` or `extra_hosts` where a service
  name would do (names survive re-addressing; the embedded DNS resolves them); loopback
  addresses (the container's own) are not flagged.
- db-reachable-from-public: a database-like service shares a network with a service that
  publishes ports (put the database on a backend network only the app joins).
- port-all-interfaces: a published port without a host IP binds 0.0.0.0 (every interface).
- needless-network: a service that publishes/exposes nothing, is depended on by no one,
  named by no one and names no one, yet has a network: suggest `network_mode: none`.
"""

from __future__ import annotations

import ipaddress
import re

from .check import expected
from .create import port_specs
from .model import Project, Service

IP_RE = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
DB_RE = re.compile(r"postgres|mysql|mariadb|mongo|redis|memcached|cassandra|elasticsearch|"
                   r"couchdb|influx|clickhouse|\bdb\b|database|sql", re.I)
HARMLESS = ("0.0.0.0", "127.0.0.1", "255.255.255.255")


def _loopback(ip: str) -> bool:
    """127.0.0.0/8: a container's own loopback, never a peer's address."""
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _finding(project: Project, rule: str, path: tuple, message: str, service: str = "") -> dict:
    file, line = project.locate(path)
    return {"rule": rule, "service": service, "file": file, "line": line,
            "path": ".".join(str(p) for p in path), "message": message}


def _texts(svc: Service) -> list[tuple[tuple, str]]:
    """(path, text) of the fields where addresses or names of peers appear."""
    out = []
    for k, v in svc.environment.items():
        out.append((("services", svc.name, "environment", k), str(v)))
    cmd = svc.get("command")
    if cmd is not None:
        out.append((("services", svc.name, "command"),
                    cmd if isinstance(cmd, str) else " ".join(map(str, cmd))))
    for i, h in enumerate(svc.extra_hosts):
        out.append((("services", svc.name, "extra_hosts"), h))
    return out


def _is_db(svc: Service) -> bool:
    return bool(DB_RE.search(svc.name) or DB_RE.search(svc.image))


def _publishes(svc: Service) -> bool:
    return any(":" in spec.split("/")[0] for spec in port_specs(svc))


def lint(project: Project) -> list[dict]:
    """Every finding, in file order of the services."""
    out: list[dict] = []
    svcs = project.services
    static = {}
    for s in svcs.values():
        for sn in s.networks.values():
            if sn.ipv4_address:
                static[sn.ipv4_address] = s.name
    nets = [frozenset(s.networks) for s in svcs.values() if not s.network_mode]
    if len(nets) >= 2 and len(set(nets)) == 1 and len(nets[0]) == 1:
        key = next(iter(nets[0]))
        out.append(_finding(project, "no-segmentation", ("services",),
                            f"all {len(nets)} networked services share the single network {key!r}: "
                            "every service can reach every other; split them into "
                            "frontend/backend networks by who must talk to whom"))
    referenced = {d for s in svcs.values() for d in s.depends_on}
    referenced |= {x.split(":")[0] for s in svcs.values() for x in s.links}
    referenced |= {s.network_mode.split(":", 1)[1] for s in svcs.values()
                   if s.network_mode.startswith("service:")}
    exp = expected(project)
    for name, svc in svcs.items():
        base = ("services", name)
        if svc.network_mode == "host":
            out.append(_finding(project, "host-network", base + ("network_mode",),
                                "network_mode: host shares the host's network stack (no "
                                "isolation, ports not mapped): keep it a documented "
                                "exception", name))
        for path, text in _texts(svc):
            for ip in IP_RE.findall(text):
                if ip in HARMLESS or _loopback(ip):
                    continue
                who = static.get(ip)
                hint = f"use the service name {who!r}" if who else "use a service name " \
                    "or an alias"
                out.append(_finding(project, "hardcoded-ip", path,
                                    f"hard-coded address {ip}: {hint}", name))
        for i, spec in enumerate(port_specs(svc)):
            head = spec.split("/")[0]
            parts = head.rsplit(":", 2)
            if len(parts) >= 2 and (len(parts) == 2 or parts[0] in ("", "0.0.0.0", "[::]",
                                                                     "::")):
                out.append(_finding(project, "port-all-interfaces",
                                    base + ("ports", i), f"port {spec} is published on all "
                                    "interfaces: bind it to one address "
                                    f"(e.g. 127.0.0.1:{head.split(':')[-2] if len(parts) >= 2 else head}:"
                                    f"{parts[-1]})", name))
        if _is_db(svc):
            for other, o in svcs.items():
                e = exp.get(other, {}).get(name)
                if other != name and _publishes(o) and e and e["ip"]:
                    out.append(_finding(project, "db-reachable-from-public",
                                        base + ("networks",),
                                        f"database-like service {name!r} is reachable from "
                                        f"public-facing {other!r} (it publishes ports): put "
                                        f"{name!r} on a backend network {other!r} does not "
                                        "join", name))
        talks = any(re.search(rf"\b{re.escape(o)}\b", t) for o in svcs if o != name
                    for _, t in _texts(svc)) or bool(svc.depends_on) or bool(svc.links)
        named = name in referenced or any(
            re.search(rf"\b{re.escape(name)}\b", t) for o in svcs.values() if o.name != name
            for _, t in _texts(o))
        if not svc.network_mode and not svc.ports and not svc.expose and not talks \
                and not named:
            out.append(_finding(project, "needless-network", base,
                                f"service {name!r} publishes and exposes nothing and no "
                                "service talks to it (nor it to one): consider "
                                "`network_mode: none`", name))
    return out
