"""Turning a POST /containers/create body into the core's ContainerConfig."""

from __future__ import annotations

import ipaddress

from ...errors import InvalidParameter
from ...model import ContainerConfig, EndpointSettings, PortBinding, RestartPolicy
from ..schemas import ContainerCreateRequest, decode, decode_raw
from .networks import settings_from

RESTART_NAMES = {"", "no", "always", "unless-stopped", "on-failure"}


def _argv(val) -> list[str]:
    if val is None:
        return []
    return [val] if isinstance(val, str) else list(val)


def _ports(req: ContainerCreateRequest) -> tuple[list[str], list[PortBinding]]:
    exposed = list((req.exposed_ports or {}).keys())
    bindings = []
    hc = req.host_config
    for key, binds in ((hc.port_bindings or {}) if hc else {}).items():
        port, _, proto = key.partition("/")
        proto = proto or "tcp"
        if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("tcp", "udp", "sctp"):
            raise InvalidParameter(f"invalid port specification: {key!r}")
        if key not in exposed:
            exposed.append(key if "/" in key else f"{key}/tcp")
        for b in binds or [{}]:
            host_ip = getattr(b, "host_ip", None) or ""
            host_port = getattr(b, "host_port", None) or ""
            if host_ip:
                try:
                    ipaddress.ip_address(host_ip)
                except ValueError:
                    raise InvalidParameter(f"invalid host IP {host_ip!r} in port binding") from None
            if host_port and (not host_port.split("-")[0].isdigit()
                              or not 0 < int(host_port.split("-")[0]) < 65536):
                raise InvalidParameter(f"invalid host port {host_port!r} in port binding")
            bindings.append(PortBinding(container_port=int(port), proto=proto, host_ip=host_ip,
                                        host_port=int(host_port.split("-")[0]) if host_port else 0))
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


def build_create(body: bytes, name: str | None):
    """(name, ContainerConfig, {network ref: EndpointSettings}) from the request."""
    req = decode(body, ContainerCreateRequest, "container create request")
    raw = decode_raw(body)
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
        binds=list(hc.binds or []) if hc else [], auto_remove=bool(hc and hc.auto_remove),
        restart_policy=_restart(req), raw_config=raw_cfg, raw_host_config=raw_hc)
    if cfg.auto_remove and cfg.restart_policy.name not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    endpoints: dict[str, EndpointSettings] = {}
    nc = req.networking_config
    for ref, ec in ((nc.endpoints_config or {}) if nc else {}).items():
        st = settings_from(ec)
        if not st.mac and req.mac_address and not endpoints:
            st.mac = req.mac_address
        endpoints[ref] = st
    return name, cfg, endpoints
