"""Request bodies of the Engine API as msgspec Structs with Docker's names.

Unknown fields are ignored (as Docker's Go decoder does); a wrong type or a
malformed document is a 400 with the decoder's message.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from ..errors import InvalidParameter

T = TypeVar("T")


class IPAMConfigEntry(msgspec.Struct, rename="pascal", omit_defaults=True):
    """One entry of IPAM.Config."""

    subnet: str | None = None
    ip_range: str | None = msgspec.field(default=None, name="IPRange")
    gateway: str | None = None
    auxiliary_addresses: dict[str, str] | None = None


class IPAM(msgspec.Struct, rename="pascal"):
    """Network IPAM settings."""

    driver: str | None = None
    config: list[IPAMConfigEntry] | None = None
    options: dict[str, str] | None = None


class NetworkCreateRequest(msgspec.Struct, rename="pascal"):
    """POST /networks/create."""

    name: str | None = None
    driver: str | None = None
    scope: str | None = None
    internal: bool | None = None
    attachable: bool | None = None
    ingress: bool | None = None
    config_only: bool | None = None
    config_from: dict[str, Any] | None = None
    enable_i_pv4: bool | None = msgspec.field(default=None, name="EnableIPv4")
    enable_i_pv6: bool | None = msgspec.field(default=None, name="EnableIPv6")
    ipam: IPAM | None = msgspec.field(default=None, name="IPAM")
    options: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    check_duplicate: bool | None = None


class EndpointIPAMConfig(msgspec.Struct, rename="pascal"):
    """EndpointSettings.IPAMConfig."""

    i_pv4_address: str | None = msgspec.field(default=None, name="IPv4Address")
    i_pv6_address: str | None = msgspec.field(default=None, name="IPv6Address")
    link_local_i_ps: list[str] | None = msgspec.field(default=None, name="LinkLocalIPs")


class EndpointConfig(msgspec.Struct, rename="pascal"):
    """EndpointSettings as sent by clients (connect, container create)."""

    ipam_config: EndpointIPAMConfig | None = msgspec.field(default=None, name="IPAMConfig")
    links: list[str] | None = None
    aliases: list[str] | None = None
    mac_address: str | None = None
    driver_opts: dict[str, str] | None = None
    gw_priority: int | None = None
    network_id: str | None = msgspec.field(default=None, name="NetworkID")


class NetworkConnectRequest(msgspec.Struct, rename="pascal"):
    """POST /networks/{id}/connect."""

    container: str | None = None
    endpoint_config: EndpointConfig | None = None


class NetworkDisconnectRequest(msgspec.Struct, rename="pascal"):
    """POST /networks/{id}/disconnect."""

    container: str | None = None
    force: bool | None = None


class RestartPolicyBody(msgspec.Struct, rename="pascal"):
    """HostConfig.RestartPolicy."""

    name: str | None = None
    maximum_retry_count: int | None = None


class PortBindingBody(msgspec.Struct, rename="pascal"):
    """One HostConfig.PortBindings entry."""

    host_ip: str | None = msgspec.field(default=None, name="HostIp")
    host_port: str | None = None


class HostConfigBody(msgspec.Struct, rename="pascal"):
    """The parts of HostConfig boxnet honours (others are echoed back)."""

    network_mode: str | None = None
    port_bindings: dict[str, list[PortBindingBody] | None] | None = None
    dns: list[str] | None = None
    dns_search: list[str] | None = None
    dns_options: list[str] | None = None
    extra_hosts: list[str] | None = None
    links: list[str] | None = None
    binds: list[str] | None = None
    auto_remove: bool | None = None
    restart_policy: RestartPolicyBody | None = None


class NetworkingConfigBody(msgspec.Struct, rename="pascal"):
    """NetworkingConfig of container create."""

    endpoints_config: dict[str, EndpointConfig | None] | None = None


class ContainerCreateRequest(msgspec.Struct, rename="pascal"):
    """POST /containers/create (Config fields at top level, as Docker sends)."""

    image: str | None = None
    cmd: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    env: list[str] | None = None
    hostname: str | None = None
    domainname: str | None = None
    working_dir: str | None = None
    labels: dict[str, str] | None = None
    tty: bool | None = None
    open_stdin: bool | None = None
    exposed_ports: dict[str, Any] | None = None
    mac_address: str | None = None
    host_config: HostConfigBody | None = None
    networking_config: NetworkingConfigBody | None = None


class ExecCreateRequest(msgspec.Struct, rename="pascal"):
    """POST /containers/{id}/exec."""

    cmd: list[str] | None = None
    env: list[str] | None = None
    working_dir: str | None = None
    tty: bool | None = None
    attach_stdin: bool | None = None
    attach_stdout: bool | None = None
    attach_stderr: bool | None = None
    detach_keys: str | None = None
    privileged: bool | None = None
    user: str | None = None
    console_size: list[int] | None = None   # [height, width] of the exec's TTY


class ExecStartRequest(msgspec.Struct, rename="pascal"):
    """POST /exec/{id}/start."""

    detach: bool | None = None
    tty: bool | None = None
    console_size: list[int] | None = None


def decode(body: bytes, typ: type[T], what: str) -> T:
    """Decode a JSON body into a Struct, or InvalidParameter."""
    if not body.strip():
        raise InvalidParameter(f"invalid {what}: empty request body, expected JSON")
    try:
        return msgspec.json.decode(body, type=typ)
    except msgspec.DecodeError as exc:
        raise InvalidParameter(f"invalid JSON in {what}: {exc}") from None


def decode_raw(body: bytes) -> dict:
    """The body as a plain dict (for echoing Config/HostConfig in inspect)."""
    try:
        val = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError as exc:
        raise InvalidParameter(f"invalid JSON: {exc}") from None
    if not isinstance(val, dict):
        raise InvalidParameter("invalid JSON: expected an object")
    return val
