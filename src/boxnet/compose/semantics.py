"""The rules of a compose project that the JSON schema cannot express.

Every failure is a ComposeError pointing at the file and line of the offending key, with
what to do: undefined networks/services, `network_mode` together with `networks`,
static addresses outside every subnet of their network (or on a network without a
subnet, or taken twice), dependency cycles, services without image or build, an external
network with settings compose would never apply.
"""

from __future__ import annotations

import ipaddress

from .errors import ComposeError
from .model import Project

MODES = ("host", "none", "bridge", "default")


def _err(project: Project, path: tuple, msg: str, hint: str = "") -> ComposeError:
    file, line = project.locate(path)
    return ComposeError(msg, file, path, line, hint)


def _subnets(project: Project, key: str) -> list:
    out = []
    for i, cfg in enumerate(project.networks[key].ipam_config):
        if not cfg.get("subnet"):
            continue
        path = ("networks", key, "ipam", "config", i, "subnet")
        try:
            out.append(ipaddress.ip_network(str(cfg["subnet"]), strict=True))
        except ValueError as e:
            raise _err(project, path, f"invalid subnet {cfg['subnet']!r}: {e}",
                       "write it in CIDR form with the host bits zero, e.g. 172.28.0.0/16")
        for field in ("ip_range", "gateway"):
            if not cfg.get(field):
                continue
            try:
                val = ipaddress.ip_network(str(cfg[field]), strict=False)
            except ValueError as e:
                raise _err(project, path[:-1] + (field,), f"invalid {field}: {e}")
            if val.version != out[-1].version or not val.subnet_of(out[-1]):
                raise _err(project, path[:-1] + (field,),
                           f"{field} {cfg[field]} is outside the subnet {out[-1]}")
    return out


def _check_networks(project: Project) -> dict:
    subnets = {}
    for key, nw in project.networks.items():
        if nw.external:
            for field in ("driver", "driver_opts", "ipam", "internal", "enable_ipv6",
                          "attachable", "labels"):
                if field in nw.raw:
                    raise _err(project, ("networks", key, field),
                               f"conflicting parameters \"external\" and \"{field}\" "
                               f"specified for network {key!r}",
                               "an external network is used as it is: drop the setting")
        subnets[key] = _subnets(project, key)
    return subnets


def _check_address(project, sname, sn, subnets, taken, version: int) -> None:
    field = "ipv4_address" if version == 4 else "ipv6_address"
    value = getattr(sn, field)
    if not value:
        return
    path = ("services", sname, "networks", sn.key, field)
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise _err(project, path, f"{value!r} is not an IPv{version} address") from None
    if addr.version != version:
        raise _err(project, path, f"{value} is not an IPv{version} address")
    nw = project.networks[sn.key]
    if nw.external:
        return  # its subnets are only known to the daemon, which checks at connect
    fam = [s for s in subnets[sn.key] if s.version == version]
    if not fam:
        raise _err(project, path, f"static address {value} on network {sn.key!r}, which "
                   f"declares no IPv{version} subnet",
                   f"add networks.{sn.key}.ipam.config[].subnet containing it"
                   + (" and enable_ipv6: true" if version == 6 else ""))
    if version == 6 and not nw.enable_ipv6:
        raise _err(project, path, f"IPv6 address on network {sn.key!r} without IPv6",
                   f"set networks.{sn.key}.enable_ipv6: true")
    if version == 4 and nw.enable_ipv4 is False:
        raise _err(project, path, f"IPv4 address on network {sn.key!r}, which is "
                   f"IPv6-only (enable_ipv4: false)", "drop ipv4_address")
    if not any(addr in s for s in fam):
        raise _err(project, path, f"address {value} is outside every subnet of network "
                   f"{sn.key!r} ({', '.join(map(str, fam))})",
                   "pick an address inside the subnet")
    net = next(s for s in fam if addr in s)
    if version == 4 and net.prefixlen < 31 and addr in (net.network_address,
                                                        net.broadcast_address):
        raise _err(project, path, f"address {value} is the network or broadcast address "
                   f"of {net}", "pick a host address")
    for cfg in nw.ipam_config:
        if str(cfg.get("gateway") or "") == value:
            raise _err(project, path, f"address {value} is the gateway of {sn.key!r}")
    if (sn.key, addr) in taken:
        raise _err(project, path, f"address {value} on {sn.key!r} is also given to service "
                   f"{taken[(sn.key, addr)]!r}", "each container needs its own address")
    taken[(sn.key, addr)] = sname
    svc = project.services[sname]
    if svc.replicas > 1:
        raise _err(project, path, f"a static address cannot be shared by {svc.replicas} "
                   "replicas", "drop the address or run one replica")


def _check_mode(project: Project, sname: str, svc) -> None:
    mode = svc.network_mode
    if not mode:
        return
    path = ("services", sname, "network_mode")
    if "networks" in svc.raw and svc.raw["networks"]:
        raise _err(project, path, "\"network_mode\" and \"networks\" cannot be combined",
                   "a service either joins networks or shares another namespace")
    if mode.startswith("service:"):
        other = mode.split(":", 1)[1]
        if other not in project.services:
            raise _err(project, path, f"network_mode refers to undefined service {other!r}")
        if other == sname:
            raise _err(project, path, "a service cannot share its own network namespace")
    elif not mode.startswith("container:") and mode not in MODES:
        raise _err(project, path, f"unknown network_mode {mode!r}",
                   "use host, none, service:NAME or container:NAME (or `networks:`)")


def dependencies(svc) -> list[str]:
    """The services that start before `svc`: depends_on, `network_mode: service:X`,
    `links:` and `volumes_from:` (Docker Compose orders by all of them)."""
    deps = list(svc.depends_on)
    if svc.network_mode.startswith("service:"):
        deps.append(svc.network_mode.split(":", 1)[1])
    deps += [x.split(":", 1)[0] for x in svc.links]
    deps += [str(r).partition(":")[0] for r in svc.get("volumes_from") or []
             if not str(r).startswith("container:")]
    return list(dict.fromkeys(d for d in deps if d != svc.name))


def _check_volumes(project: Project) -> None:
    for key, vol in project.volumes.items():
        if vol.external:
            for field in ("driver", "driver_opts", "labels"):
                if field in vol.raw:
                    raise _err(project, ("volumes", key, field),
                               f"conflicting parameters \"external\" and \"{field}\" "
                               f"specified for volume {key!r}",
                               "an external volume is used as it is: drop the setting")


def _check_order(project: Project) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cyc = trail[trail.index(name):] + [name]
            raise _err(project, ("services", trail[-1], "depends_on"),
                       f"dependency cycle: {' -> '.join(cyc)}", "break the cycle")
        state[name] = 1
        deps = dependencies(project.services[name])
        for d in deps:
            visit(d, trail + [name])
        state[name] = 2

    for name in project.services:
        visit(name, [])


def check(project: Project) -> None:
    """Raise ComposeError for the first rule the project breaks."""
    subnets = _check_networks(project)
    taken: dict = {}
    for sname, svc in project.services.items():
        base = ("services", sname)
        if not svc.image and not svc.build:
            raise _err(project, base, f"service {sname!r} has neither an image nor a build "
                       "context specified", "add `image:`")
        if svc.replicas < 0:
            raise _err(project, base + ("deploy", "replicas"), "replicas must be >= 0")
        if svc.container_name and svc.replicas > 1:
            raise _err(project, base + ("container_name",),
                       f"container_name {svc.container_name!r} cannot be used by "
                       f"{svc.replicas} replicas", "drop container_name or run one replica")
        _check_mode(project, sname, svc)
        for key, sn in svc.networks.items():
            if key not in project.networks:
                raise _err(project, base + ("networks", key),
                           f"service {sname!r} refers to undefined network {key!r}",
                           f"declare it under the top-level `networks:` key")
            _check_address(project, sname, sn, subnets, taken, 4)
            _check_address(project, sname, sn, subnets, taken, 6)
        for dep, cfg in svc.depends_on.items():
            if dep not in project.services and cfg.get("required", True):
                raise _err(project, base + ("depends_on", dep),
                           f"service {sname!r} depends on undefined service {dep!r}")
        for link in svc.links:
            target = link.split(":", 1)[0]
            if target not in project.services:
                raise _err(project, base + ("links",),
                           f"service {sname!r} links to undefined service {target!r}")
        for ref in (str(r) for r in svc.get("volumes_from") or []):
            other = ref.partition(":")[0]
            if not ref.startswith("container:") and other not in project.services:
                raise _err(project, base + ("volumes_from",),
                           f"service {sname!r} takes volumes from undefined service "
                           f"{other!r}", "use SERVICE[:ro] or container:NAME[:ro]")
    svcs = project.services
    for svc in svcs.values():
        svc.depends_on = {k: v for k, v in svc.depends_on.items() if k in svcs}
    _check_volumes(project)
    _check_order(project)
