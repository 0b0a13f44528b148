"""Network: one isolated L2/L3 domain with its IPAM pools, options and labels."""

import msgspec


class IpamPool(msgspec.Struct, kw_only=True):
    """One IPAM pool of a network (Docker's IPAMConfig entry)."""

    subnet: str
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: dict[str, str] = {}
    user_subnet: bool = False  # the user named this subnet (static IPs allowed)


class Network(msgspec.Struct, kw_only=True):
    """A network as stored; the single authoritative object for its id."""

    id: str
    name: str
    driver: str = "bridge"
    scope: str = "local"
    created: str = ""
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    enable_ipv4: bool = True
    enable_ipv6: bool = False
    ipam_driver: str = "default"
    ipam_options: dict[str, str] = {}
    pools: list[IpamPool] = []
    options: dict[str, str] = {}
    labels: dict[str, str] = {}
    predefined: bool = False
