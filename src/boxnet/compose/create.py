"""The POST /containers/create body for one replica of a service, as Docker Compose sends it.

Mounts (volumes, tmpfs, secrets, configs) come from mounts.py, the process, security and
resource fields (healthcheck, limits, ulimits...) from hostopts.py.

Every network of the service goes into NetworkingConfig.EndpointsConfig at create (API
>= 1.44 does that), each endpoint with the service name and its aliases as DNS aliases,
so all replicas answer to the service name (round robin is the resolver's job).
"""

from __future__ import annotations

import os
import shlex

from ..client.specs import parse_publish, parse_restart, security_opts
from . import bandwidth, hostopts, mounts
from . import labels as L
from .model import Project, Service


def argv(value) -> list[str] | None:
    """command/entrypoint: a string is split as a shell would; a list is kept."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def port_specs(svc: Service) -> list[str]:
    """`ports:` entries (short or long syntax) as `-p` strings."""
    out = []
    for p in svc.ports:
        if isinstance(p, dict):
            spec = str(p.get("target"))
            if p.get("published") not in (None, ""):
                spec = f"{p['published']}:{spec}"
                if p.get("host_ip"):
                    ip = p["host_ip"]
                    spec = f"{'[' + ip + ']' if ':' in ip else ip}:{spec}"
            spec += f"/{p.get('protocol') or 'tcp'}"
            out.append(spec)
        else:
            out.append(str(p))
    return out


def _endpoint(project: Project, svc: Service, key: str, number: int) -> dict:
    sn = svc.networks[key]
    aliases = [svc.name] + [a for a in sn.aliases if a != svc.name]
    ipam = {}
    if sn.ipv4_address:
        ipam["IPv4Address"] = sn.ipv4_address
    if sn.ipv6_address:
        ipam["IPv6Address"] = sn.ipv6_address
    if sn.link_local_ips:
        ipam["LinkLocalIPs"] = sn.link_local_ips
    opts = {**(sn.driver_opts or {}), **bandwidth.driver_opts(project, svc)}   # x-boxnet
    ep = {"Aliases": aliases, "IPAMConfig": ipam or None, "DriverOpts": opts or None,
          "GwPriority": sn.gw_priority, "MacAddress": sn.mac_address or None}
    links = [f"{project.container_name(project.services[t], 1)}:{a or t}"
             for t, _, a in (x.partition(":") for x in svc.links)]
    links += [f"{t}:{a or t}" for t, _, a in
              (str(x).partition(":") for x in svc.get("external_links") or [])]
    if links:
        ep["Links"] = links
    return {k: v for k, v in ep.items() if v is not None}


def network_mode(project: Project, svc: Service, resolve_service) -> str:
    """HostConfig.NetworkMode: the first network's engine name, or host/none/container:ID."""
    mode = svc.network_mode
    if mode.startswith("service:"):
        return "container:" + resolve_service(mode.split(":", 1)[1])
    if mode:
        return mode
    first = next(iter(svc.networks))
    return project.networks[first].name


def inherit_volumes(mnt: dict, inherit: dict | None) -> None:
    """A recreated container keeps its predecessor's anonymous volumes (as compose v2
    does; `inherit` maps their destinations to the volume names): a declared anonymous
    volume gets the old name as Source, an undeclared one (the image's VOLUME) is
    mounted again where nothing else is mounted."""
    if not inherit:
        return
    for m in mnt["mounts"]:
        if m["Type"] == "volume" and not m.get("Source") and m["Target"] in inherit:
            m["Source"] = inherit[m["Target"]]
    taken = {m["Target"] for m in mnt["mounts"]} | set(mnt["tmpfs"]) | {
        b.split(":")[1] for b in mnt["binds"]}
    for dest, name in inherit.items():
        if dest not in taken:
            mnt["mounts"].append({"Type": "volume", "Source": name, "Target": dest})


def body(project: Project, svc: Service, number: int, resolve_service,
         inherit: dict | None = None) -> dict:
    """The create body of replica `number` (1-based); `inherit`: the anonymous volumes
    of the container it replaces ({destination: volume name})."""
    exposed, bindings = {}, {}
    for spec in port_specs(svc):
        for port, binding in parse_publish(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append(binding)
    for e in svc.expose:
        exposed[e if "/" in e else f"{e}/tcp"] = {}
    restart = parse_restart(str(svc.get("restart") or "no").replace("unless-stopped",
                                                                      "unless-stopped"))
    mode = network_mode(project, svc, resolve_service)
    endpoints = {}
    if not svc.network_mode:
        for key in svc.networks:
            endpoints[project.networks[key].name] = _endpoint(project, svc, key, number)
    hostname = str(svc.get("hostname") or "")
    b = {"Image": svc.image, "Cmd": argv(svc.get("command")),
         "Entrypoint": argv(svc.get("entrypoint")),
         "Env": [f"{k}={v}" for k, v in svc.environment.items()],
         "WorkingDir": str(svc.get("working_dir") or ""), "Hostname": hostname,
         "Domainname": str(svc.get("domainname") or ""), "User": str(svc.get("user") or ""),
         "Labels": L.container_labels(project, svc, number),
         "Tty": bool(svc.get("tty")), "OpenStdin": bool(svc.get("stdin_open")),
         "ExposedPorts": exposed or None}
    if svc.get("stop_signal"):
        b["StopSignal"] = str(svc.get("stop_signal"))
    mnt = mounts.service_mounts(project, svc)
    inherit_volumes(mnt, inherit)
    b["HostConfig"] = {
        "NetworkMode": mode, "PortBindings": bindings or None, "RestartPolicy": restart,
        "Binds": mnt["binds"] or None, "Mounts": mnt["mounts"] or None,
        "Tmpfs": mnt["tmpfs"] or None, "Dns": [str(x) for x in _list(svc, "dns")],
        "DnsSearch": [str(x) for x in _list(svc, "dns_search")],
        "DnsOptions": [str(x) for x in _list(svc, "dns_opt")],
        "ExtraHosts": svc.extra_hosts or None, "Privileged": bool(svc.get("privileged")),
        "CapAdd": svc.get("cap_add"), "CapDrop": svc.get("cap_drop"),
        "Sysctls": {str(k): str(v) for k, v in (svc.get("sysctls") or {}).items()} or None,
        "Init": svc.get("init"),
        "GroupAdd": [str(g) for g in _list(svc, "group_add")] or None,
        "SecurityOpt": _security_opt(project, svc) or None}
    b["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    hostopts.apply(project, svc, b)
    return b


def _security_opt(project: Project, svc: Service) -> list[str]:
    """security_opt, a seccomp profile path read relative to the project directory
    and sent as JSON (as docker compose and the docker CLI do)."""
    out = []
    for opt in (str(o) for o in _list(svc, "security_opt")):
        value = opt[len("seccomp="):]
        if opt.startswith(("seccomp=", "seccomp:")) and value not in ("unconfined", "builtin"):
            opt = "seccomp=" + os.path.join(project.working_dir, os.path.expanduser(value))
        out.append(opt)
    return security_opts(out)


def _list(svc: Service, key: str) -> list:
    v = svc.get(key)
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)
