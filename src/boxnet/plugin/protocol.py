"""The JSON of libnetwork's remote driver and remote IPAM protocols.

Names as moby's libnetwork/drivers/remote/api and ipams/remote/api declare them.
Requests are decoded leniently about fields Docker may add in later versions (a
newer dockerd must not break the plugin), strictly about types.  Every answer
that fails is ``{"Err": "..."}`` (errors.py's message), which dockerd shows the user.
"""

from __future__ import annotations

from typing import Any

import msgspec

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
IMPLEMENTS = ["NetworkDriver", "IpamDriver"]

# libnetwork's netlabel keys seen in CreateNetwork's Options
GENERIC = "com.docker.network.generic"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
INTERNAL = "com.docker.network.internal"
# RequestAddress's option naming the gateway request (ipamapi.RequestAddressType)
ADDRESS_TYPE = "RequestAddressType"
GATEWAY_TYPE = "com.docker.network.gateway"
# ProgramExternalConnectivity's options
PORTMAP = "com.docker.network.portmap"
EXPOSED = "com.docker.network.endpoint.exposedports"


# The address space of the boxnet-overlay IPAM driver's pools (claimed across hosts in etcd):
# only the boxnet-overlay network driver may use them.
OVERLAY_ADDRESS_SPACE = "boxnet-overlay"


class IPAMData(msgspec.Struct):
    """One pool of a network, as the IPAM gave it to Docker."""

    AddressSpace: str = ""
    Pool: str = ""
    Gateway: str = ""
    AuxAddresses: dict[str, str] | None = None


class CreateNetworkRequest(msgspec.Struct):
    NetworkID: str
    Options: dict[str, Any] | None = None
    IPv4Data: list[IPAMData] | None = None
    IPv6Data: list[IPAMData] | None = None


class NetworkRequest(msgspec.Struct):
    """DeleteNetwork."""

    NetworkID: str


class EndpointInterface(msgspec.Struct):
    Address: str = ""
    AddressIPv6: str = ""
    MacAddress: str = ""


class CreateEndpointRequest(msgspec.Struct):
    NetworkID: str
    EndpointID: str
    Interface: EndpointInterface | None = None
    Options: dict[str, Any] | None = None


class EndpointRequest(msgspec.Struct):
    """EndpointOperInfo, DeleteEndpoint, Leave, RevokeExternalConnectivity."""

    NetworkID: str
    EndpointID: str


class JoinRequest(msgspec.Struct):
    NetworkID: str
    EndpointID: str
    SandboxKey: str = ""
    Options: dict[str, Any] | None = None


class ConnectivityRequest(msgspec.Struct):
    """ProgramExternalConnectivity."""

    NetworkID: str
    EndpointID: str
    Options: dict[str, Any] | None = None


class DiscoveryRequest(msgspec.Struct):
    DiscoveryType: int = 0
    DiscoveryData: Any = None


class RequestPoolRequest(msgspec.Struct):
    AddressSpace: str = ""
    Pool: str = ""
    SubPool: str = ""
    Options: dict[str, str] | None = None
    V6: bool = False


class ReleasePoolRequest(msgspec.Struct):
    PoolID: str


class RequestAddressRequest(msgspec.Struct):
    PoolID: str
    Address: str = ""
    Options: dict[str, str] | None = None


class ReleaseAddressRequest(msgspec.Struct):
    PoolID: str
    Address: str


class PortBinding(msgspec.Struct):
    """One entry of com.docker.network.portmap (libnetwork types.PortBinding)."""

    Proto: int = 6
    IP: str = ""
    Port: int = 0
    HostIP: str = ""
    HostPort: int = 0
    HostPortEnd: int = 0


def decode(body: bytes, typ: type):
    """A request body as ``typ`` (an empty body is an empty object)."""
    return msgspec.json.decode(body or b"{}", type=typ)


def convert(value: Any, typ: type):
    """A decoded JSON value as ``typ`` (raises msgspec.ValidationError)."""
    return msgspec.convert(value, typ)
