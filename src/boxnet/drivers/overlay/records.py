"""The cluster store's key layout for overlay networks, and its record types.

Everything lives under ``/boxnet/``:

- ``networks/<id>``          the Network (JSON), written once by the creating host
- ``netnames/<name>``        -> id    (global name uniqueness)
- ``vni/<n>``                -> id    (VNI allocation)
- ``subnets/<subnet_len>``   -> id    (subnet allocation, IPv4 and IPv6: ``fd00:20::_64``)
- ``ipam/<id>/<ip>``         Claim    (one per endpoint address; on the host's lease)
- ``ipamnext/<id>[/v6]``     the last IPv4 [IPv6] address handed out (serial allocation)
- ``endpoints/<id>/<epid>``  EndpointRecord (on the host's lease)
- ``hosts/<advertise>``      HostRecord (on the host's lease)
- ``removing/<id>``          Removal  (``network rm`` asked while endpoints remain; no lease)

Creates are etcd transactions comparing ``create_revision == 0`` on every key
they add, so two hosts racing for one name, VNI, subnet or address cannot
both win.  Whatever hangs on a lease disappears when that host stops
renewing it.
"""

from __future__ import annotations

import msgspec

ROOT = "/boxnet/"
NETWORKS = ROOT + "networks/"
NETNAMES = ROOT + "netnames/"
VNIS = ROOT + "vni/"
SUBNETS = ROOT + "subnets/"
IPAM = ROOT + "ipam/"
IPAM_NEXT = ROOT + "ipamnext/"
ENDPOINTS = ROOT + "endpoints/"
HOSTS = ROOT + "hosts/"
REMOVING = ROOT + "removing/"


class Claim(msgspec.Struct, kw_only=True, frozen=True):
    """Who holds one address of a global network."""

    endpoint: str
    host: str


class EndpointRecord(msgspec.Struct, kw_only=True, frozen=True):
    """What other hosts need to know about one endpoint: where its MAC lives, its names."""

    network_id: str
    endpoint_id: str
    container_id: str
    host: str
    vtep: str
    mac: str
    ipv4: str = ""          # address/prefix
    ipv6: str = ""          # address/prefix (dual-stack networks)
    names: list[str] = []   # DNS names (container name, aliases, short id)


class HostRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A live host of the cluster."""

    name: str
    addr: str


class Removal(msgspec.Struct, kw_only=True, frozen=True):
    """A pending ``network rm``: the network goes once its last endpoint anywhere leaves."""

    host: str       # advertise address of the host where it was asked
    since: str      # RFC 3339 time of the request


def subnet_key(subnet: str) -> str:
    """Key of a subnet claim (``/`` is not allowed in one key segment)."""
    return SUBNETS + subnet.replace("/", "_")


def claim_key(network_id: str, ip: str) -> str:
    """Key of one address claim."""
    return f"{IPAM}{network_id}/{ip}"


def next_key(network_id: str, v6: bool = False) -> str:
    """Key of the last address handed out on a network, per family (serial allocation)."""
    return IPAM_NEXT + network_id + ("/v6" if v6 else "")


def endpoint_key(network_id: str, endpoint_id: str) -> str:
    """Key of one endpoint record."""
    return f"{ENDPOINTS}{network_id}/{endpoint_id}"


ENC = msgspec.json.Encoder()
claim_dec = msgspec.json.Decoder(Claim)
endpoint_dec = msgspec.json.Decoder(EndpointRecord)
host_dec = msgspec.json.Decoder(HostRecord)
removal_dec = msgspec.json.Decoder(Removal)
