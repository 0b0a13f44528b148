"""Docker-shaped JSON views of the model (inspect, list)."""

from __future__ import annotations

import ipaddress

from ..core.health import health_json
from ..core.mounts import mounts_json
from ..model import Container, Endpoint, Network

EMPTY_TIME = "0001-01-01T00:00:00Z"


def state_name(c: Container) -> str:
    """Docker's State.Status: "paused" for a frozen running container (core/resources.py)."""
    return "paused" if c.paused and c.status == "running" else c.status


def _split(cidr: str) -> tuple[str, int]:
    if not cidr:
        return "", 0
    iface = ipaddress.ip_interface(cidr)
    return str(iface.ip), iface.network.prefixlen


def network_json(nw: Network, endpoints: list[Endpoint] | None, containers: dict,
                 ipam_usage=None) -> dict:
    """GET /networks/{id}: Docker's Network object; Containers when endpoints given."""
    config = []
    for p in nw.pools:
        entry = {"Subnet": p.subnet}
        if p.ip_range:
            entry["IPRange"] = p.ip_range
        if p.gateway:
            entry["Gateway"] = p.gateway
        if p.aux_addresses:
            entry["AuxiliaryAddresses"] = dict(p.aux_addresses)
        config.append(entry)
    out = {
        "Name": nw.name, "Id": nw.id, "Created": nw.created, "Scope": nw.scope,
        "Driver": nw.driver, "EnableIPv4": nw.enable_ipv4, "EnableIPv6": nw.enable_ipv6,
        "IPAM": {"Driver": nw.ipam_driver or "default", "Options": dict(nw.ipam_options) or None,
                 "Config": config},
        "Internal": nw.internal, "Attachable": nw.attachable, "Ingress": nw.ingress,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
        "Options": dict(nw.options), "Labels": dict(nw.labels),
    }
    for ep in endpoints or ():
        c = containers.get(ep.container_id)
        # an endpoint with no container of ours (Docker plugin, CNI) under "ep-<id>",
        # as moby's buildDetailedNetworkResources keys an endpoint without a sandbox
        out["Containers"][ep.container_id or "ep-" + ep.id] = {
            "Name": c.name if c else "", "EndpointID": ep.id, "MacAddress": ep.mac,
            "IPv4Address": ep.ipv4, "IPv6Address": ep.ipv6}
    if ipam_usage is not None:
        # Docker's NetworkStatus (API 1.52): allocation per subnet, on inspect only.
        cap = 2 ** 64 - 1
        out["Status"] = {"IPAM": {"Subnets": {
            u["Subnet"]: {"IPsInUse": min(u.get("IPsInUse", u["Allocated"]), cap),
                          "DynamicIPsAvailable": min(u.get("DynamicIPsAvailable", u["Free"]),
                                                     cap)} for u in ipam_usage}}}
    return out


def endpoint_settings(nw: Network | None, ep: Endpoint | None, st) -> dict:
    """One entry of NetworkSettings.Networks."""
    ipam_cfg = None   # Docker's EndpointIPAMConfig: each field omitempty, null when empty
    if st is not None:
        ipam_cfg = {k: v for k, v in (("IPv4Address", st.ipv4), ("IPv6Address", st.ipv6),
                                      ("LinkLocalIPs", list(st.link_local_ips))) if v} or None
    ip4, len4 = _split(ep.ipv4 if ep else "")
    ip6, len6 = _split(ep.ipv6 if ep else "")
    return {
        "IPAMConfig": ipam_cfg,
        "Links": (list(st.links) or None) if st else None,
        "Aliases": (list(st.aliases) or None) if st else None,
        "MacAddress": ep.mac if ep else (st.mac if st else ""),
        "DriverOpts": (dict(st.driver_opts) or None) if st else None,
        "GwPriority": st.gw_priority if st else 0,
        "NetworkID": nw.id if nw else "",
        "EndpointID": ep.id if ep else "",
        "Gateway": ep.gateway4 if ep and ep.ipv4 else "",
        "IPAddress": ip4, "IPPrefixLen": len4,
        "IPv6Gateway": ep.gateway6 if ep and ep.ipv6 else "",
        "GlobalIPv6Address": ip6, "GlobalIPv6PrefixLen": len6,
        "DNSNames": (list(ep.dns_names) or None) if ep else None,
    }


def networks_view(c: Container, networks: dict[str, Network], eps: dict[str, Endpoint]) -> dict:
    """NetworkSettings.Networks: one entry per configured network, by name."""
    nets = {}
    for nid, st in c.networks.items():
        nw = networks.get(nid)
        if nw is not None:
            nets[nw.name] = endpoint_settings(nw, eps.get(nid), st)
    return nets


def _ports(c: Container, published=None) -> dict:
    """NetworkSettings.Ports: exposed ports, with the host ports actually held."""
    ports = {}
    for p in c.config.exposed_ports:
        ports.setdefault(p, None)
    for b in c.config.port_bindings:
        ports.setdefault(f"{b.container_port}/{b.proto}", None)
    if c.status != "running":
        return ports
    for b in published or []:
        key = f"{b.container_port}/{b.proto}"
        for fam in b.families:
            ip = b.host_ip or ("0.0.0.0" if fam == 4 else "::")
            port = str(b.host_port) if b.host_port else ""   # "": routed, no host port
            ports[key] = (ports.get(key) or []) + [{"HostIp": ip, "HostPort": port}]
    return ports


def container_inspect(c: Container, networks: dict[str, Network], eps: dict[str, Endpoint],
                      image_name: str, paths: dict[str, str], log_path: str,
                      published=None) -> dict:
    """GET /containers/{id}/json; `published`: the container's HostBindings."""
    args = list(c.config.entrypoint) + list(c.config.cmd)
    nets = networks_view(c, networks, eps)
    cfg = dict(c.config.raw_config)
    cfg.update({"Hostname": c.config.hostname or c.id[:12], "Domainname": c.config.domainname,
                "Env": list(c.config.env) or None, "Cmd": list(c.config.cmd) or None,
                "Entrypoint": list(c.config.entrypoint) or None, "Image": c.config.image,
                "WorkingDir": c.config.working_dir, "Labels": dict(c.config.labels),
                "Tty": c.config.tty, "OpenStdin": c.config.open_stdin})
    cfg.setdefault("User", "")
    cfg.pop("MacAddress", None)   # not in 1.52 (api/compat/containers.py: older versions)
    host_cfg = dict(c.config.raw_host_config)
    host_cfg.pop("KernelMemoryTCP", None)   # removed in 1.52, as Config.MacAddress
    host_cfg["NetworkMode"] = c.config.network_mode
    # docker-py's containers.run reads HostConfig.LogConfig.Type to decide
    # whether it can return the output: the logs are files, like json-file.
    if not (host_cfg.get("LogConfig") or {}).get("Type"):
        host_cfg["LogConfig"] = {"Type": "json-file", "Config": {}}
    return {
        "Id": c.id, "Created": c.created, "Path": args[0] if args else "", "Args": args[1:],
        "State": {"Status": state_name(c), "Running": c.status == "running",
                  "Paused": c.paused and c.status == "running",
                  "Restarting": False, "OOMKilled": c.oom_killed, "Dead": False,
                  "Pid": c.pid, "ExitCode": c.exit_code, "Error": c.error,
                  "StartedAt": c.started_at, "FinishedAt": c.finished_at,
                  **({"Health": health_json(c.health)} if c.health is not None else {})},
        "Image": c.image_id, "ResolvConfPath": paths.get("/etc/resolv.conf", ""),
        "HostnamePath": paths.get("/etc/hostname", ""), "HostsPath": paths.get("/etc/hosts", ""),
        "LogPath": log_path, "Name": "/" + c.name, "RestartCount": c.restart_count,
        "Driver": "overlay", "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
        "AppArmorProfile": "", "ExecIDs": None, "HostConfig": host_cfg,
        "GraphDriver": {"Data": None, "Name": "overlay"}, "Mounts": mounts_json(c),
        "Config": cfg,
        # API 1.52's shape: the deprecated top-level address fields and
        # Config.MacAddress come back for older versions in api/compat/containers.py.
        "NetworkSettings": {
            "SandboxID": c.id if c.sandbox_key else "",
            "SandboxKey": c.sandbox_key, "Ports": _ports(c, published),
            "Networks": nets,
        },
    }


def container_summary(c: Container, networks: dict[str, Network],
                      eps: dict[str, Endpoint], created_ts: int, status_text: str,
                      published=None) -> dict:
    """One entry of GET /containers/json; `published`: the container's HostBindings."""
    args = list(c.config.entrypoint) + list(c.config.cmd)
    nets = networks_view(c, networks, eps)
    ports = []
    if c.status == "running":
        for b in published or []:
            for fam in b.families:
                ports.append({"IP": b.host_ip or ("0.0.0.0" if fam == 4 else "::"),
                              "PrivatePort": b.container_port, "PublicPort": b.host_port,
                              "Type": b.proto})
    return {
        "Id": c.id, "Names": ["/" + c.name], "Image": c.config.image, "ImageID": c.image_id,
        "Command": " ".join(args), "Created": created_ts, "Ports": ports,
        "Labels": dict(c.config.labels), "State": state_name(c), "Status": status_text,
        "HostConfig": {"NetworkMode": c.config.network_mode},
        "NetworkSettings": {"Networks": nets}, "Mounts": mounts_json(c),
        # API 1.52's summary of the health status ("none" without a healthcheck).
        "Health": {"Status": c.health.status if c.health is not None else "none",
                   "FailingStreak": c.health.failing_streak if c.health is not None else 0},
    }
