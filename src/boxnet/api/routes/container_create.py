"""Turning a POST /containers/create body into the core's ContainerConfig."""

from __future__ import annotations

import ipaddress
import re

from ...core.portalloc import host_ip_is_local
from ...core.names import NAME_RE
from ...errors import InvalidParameter
from ...model import ContainerConfig, EndpointSettings, PortBinding, RestartPolicy
from ..schemas import ContainerCreateRequest, decode, decode_raw
from ..unsupported import check_container_create
from ...kernel.procfacts import device_nodes, host_facts
from ...runtime import procopts
from ...kernel import cgroups
from ...runtime import resources
from ...runtime.secopts import parse_security_opts
from ...runtime.users import check_spec as check_user_spec
from ...volumes import spec as volume_spec
from .macaddr import apply_mac_address
from .networks import settings_from

PROTOS = ("tcp", "udp", "sctp")
_ALIAS = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_PORT = re.compile(r"[0-9]{1,10}")   # longer cannot be a port (and int() has a digit limit)
RESTART_NAMES = {"", "no", "always", "unless-stopped", "on-failure"}


def _argv(val) -> list[str]:
    if val is None:
        return []
    return [val] if isinstance(val, str) else list(val)


def _range(text: str, what: str) -> tuple[int, int]:
    """"N" or "N-M" with 1 <= N <= M <= 65535."""
    lo, sep, hi = text.partition("-")
    # ASCII digits only: str.isdigit() is also True for '³', which int() refuses.
    if not _PORT.fullmatch(lo) or (sep and not _PORT.fullmatch(hi)):
        raise InvalidParameter(f"invalid {what} {text!r}: expected a port or a range N-M")
    a, b = int(lo), int(hi) if sep else int(lo)
    if not (0 < a <= 65535 and 0 < b <= 65535):
        raise InvalidParameter(f"invalid {what} {text!r}: ports are 1 to 65535")
    if b < a:
        raise InvalidParameter(f"invalid {what} {text!r}: the range ends before it starts")
    return a, b


def _host_ip(host_ip: str) -> str:
    if not host_ip:
        return ""
    try:
        ipaddress.ip_address(host_ip.strip("[]"))
    except ValueError:
        raise InvalidParameter(f"invalid host IP {host_ip!r} in port binding") from None
    if not host_ip_is_local(host_ip.strip("[]")):
        raise InvalidParameter(f"host IP {host_ip} in port binding is not an address of this "
                               f"host: publish on one of its addresses, or leave it empty")
    return host_ip.strip("[]")


def _ports(req: ContainerCreateRequest) -> tuple[list[str], list[PortBinding]]:
    """ExposedPorts and PortBindings, validated; container ranges expand 1:1."""
    exposed = []
    for key in (req.exposed_ports or {}):
        port, _, proto = key.partition("/")
        if proto and proto not in PROTOS:
            raise InvalidParameter(f"invalid port specification: {key!r}: unknown protocol")
        _range(port, "exposed port")
        exposed.append(key if "/" in key else f"{key}/tcp")
    bindings = []
    hc = req.host_config
    for key, binds in ((hc.port_bindings or {}) if hc else {}).items():
        port, _, proto = key.partition("/")
        proto = proto or "tcp"
        if proto not in PROTOS:
            raise InvalidParameter(f"invalid port specification: {key!r}: protocol must be "
                                   f"tcp, udp or sctp")
        c_lo, c_hi = _range(port, "container port")
        for n in range(c_lo, c_hi + 1):
            if f"{n}/{proto}" not in exposed:
                exposed.append(f"{n}/{proto}")
        for b in binds or [None]:
            host_ip = _host_ip(getattr(b, "host_ip", None) or "")
            host_port = getattr(b, "host_port", None) or ""
            h_lo, h_hi = _range(host_port, "host port") if host_port else (0, 0)
            if c_hi > c_lo:
                if not h_lo:
                    h_list = [(0, 0)] * (c_hi - c_lo + 1)
                elif h_hi - h_lo != c_hi - c_lo:
                    raise InvalidParameter(
                        f"invalid port range: host ports {host_port} and container ports "
                        f"{port} are ranges of unequal length")
                else:
                    h_list = [(h, 0) for h in range(h_lo, h_hi + 1)]
            else:
                h_list = [(h_lo, h_hi if h_hi != h_lo else 0)]
            for n, (h, h_end) in zip(range(c_lo, c_hi + 1), h_list):
                bindings.append(PortBinding(container_port=n, proto=proto, host_ip=host_ip,
                                            host_port=h, host_port_end=h_end))
    return exposed, bindings


def _restart(req: ContainerCreateRequest) -> RestartPolicy:
    rp = req.host_config.restart_policy if req.host_config else None
    if rp is None:
        return RestartPolicy()
    name = rp.name or "no"
    if name not in RESTART_NAMES:
        raise InvalidParameter(f"invalid restart policy '{name}'")
    count = rp.maximum_retry_count or 0
    if count < 0 or (count and name != "on-failure"):
        raise InvalidParameter("maximum retry count can only be used with 'on-failure' "
                               "and cannot be negative")
    return RestartPolicy(name=name, maximum_retry_count=count)


def _links(links: list[str]) -> list[str]:
    """HostConfig.Links: "name:alias" (the CLI sends "/name:/ctr/alias"); names validated."""
    out = []
    for link in links:
        name, _, alias = link.partition(":")
        name, alias = name.lstrip("/"), alias.rsplit("/", 1)[-1]
        if not NAME_RE.match(name) or (alias and not _ALIAS.match(alias)):
            raise InvalidParameter(f"invalid link {link!r}: expected name[:alias]")
        out.append(f"{name}:{alias}" if alias else name)
    return out


def _extra_hosts(hosts: list[str]) -> list[str]:
    for h in hosts:
        name, sep, addr = h.partition(":")
        if not sep or not name:
            raise InvalidParameter(f"invalid extra host {h!r}: expected host:ip")
        if addr != "host-gateway":
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise InvalidParameter(f"invalid IP address in add-host: {addr!r}") from None
    return list(hosts)


def _check_mounts(raw: dict) -> None:
    """Binds, Mounts, Config.Volumes, VolumesFrom and Tmpfs are well formed (400
    otherwise, before anything is made); the core resolves them (core/mounts.py)."""
    hc = raw.get("HostConfig") if isinstance(raw.get("HostConfig"), dict) else {}
    volume_spec.requested(raw, hc)
    volume_spec.tmpfs_entries(hc)


def _check_security(raw: dict) -> None:
    """User, HostConfig.GroupAdd and HostConfig.SecurityOpt are well formed (400
    otherwise).  Names are looked up in the container's files at start, as dockerd
    does; an entry boxnet cannot honour (an AppArmor profile...) is refused now."""
    user = raw.get("User")
    if user is not None and not isinstance(user, str):
        raise InvalidParameter(f"User must be a string (got {user!r})")
    check_user_spec(user or "")
    hc = raw.get("HostConfig") if isinstance(raw.get("HostConfig"), dict) else {}
    groups = hc.get("GroupAdd")
    if groups is not None and (not isinstance(groups, list) or not all(
            isinstance(g, str) and g and ":" not in g and not g.isspace() for g in groups)):
        raise InvalidParameter(f"GroupAdd must be a list of group names or numbers "
                               f"(got {groups!r})")
    parse_security_opts(hc.get("SecurityOpt"))


def build_create(body: bytes, name: str | None, version: str | None = None):
    """(name, ContainerConfig, {network ref: EndpointSettings}) from the request
    (`version`: the request's API version, None for the current one)."""
    req = decode(body, ContainerCreateRequest, "container create request")
    raw = decode_raw(body)
    check_container_create(raw)
    _check_security(raw)
    _check_mounts(raw)
    procopts.validate(raw, raw.get("HostConfig") if isinstance(raw.get("HostConfig"), dict)
                      else {}, host_facts(), device_nodes)
    if not req.image:
        raise InvalidParameter("config cannot be empty in order to create a container "
                               "(Image is required)")
    hc = req.host_config
    exposed, bindings = _ports(req)
    for d in (hc.dns or []) if hc else []:
        try:
            ipaddress.ip_address(d)
        except ValueError:
            raise InvalidParameter(f"invalid DNS server address {d!r}") from None
    raw_hc = dict(raw.get("HostConfig") or {})
    resources.validate(raw_hc, cgroups.host(),  # limits: Docker's rules, the host's cgroups
                       cgroups.block_device)
    raw_hc = resources.normalize(raw_hc, cgroups.host())   # Docker's defaults (swap 2x memory)
    raw_cfg = {k: v for k, v in raw.items() if k not in ("HostConfig", "NetworkingConfig")}
    cfg = ContainerConfig(
        image=req.image, cmd=_argv(req.cmd), entrypoint=_argv(req.entrypoint),
        env=list(req.env or []), hostname=req.hostname or "", domainname=req.domainname or "",
        working_dir=req.working_dir or "", labels=dict(req.labels or {}),
        tty=bool(req.tty), open_stdin=bool(req.open_stdin), exposed_ports=exposed,
        network_mode=(hc.network_mode if hc and hc.network_mode else "default"),
        port_bindings=bindings, dns=list(hc.dns or []) if hc else [],
        dns_search=list(hc.dns_search or []) if hc else [],
        dns_options=list(hc.dns_options or []) if hc else [],
        extra_hosts=_extra_hosts(list(hc.extra_hosts or [])) if hc else [],
        links=_links(list(hc.links or [])) if hc else [],
        binds=list(hc.binds or []) if hc else [], auto_remove=bool(hc and hc.auto_remove),
        restart_policy=_restart(req), raw_config=raw_cfg, raw_host_config=raw_hc)
    if cfg.auto_remove and cfg.restart_policy.name not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    endpoints: dict[str, EndpointSettings] = {}
    nc = req.networking_config
    for ref, ec in ((nc.endpoints_config or {}) if nc else {}).items():
        endpoints[ref] = settings_from(ec)
    apply_mac_address(req.mac_address or "", endpoints, cfg.network_mode, version)
    return name, cfg, endpoints
