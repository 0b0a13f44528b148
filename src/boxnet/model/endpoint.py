"""Endpoint: one attachment of a sandbox (container) to a network."""

import msgspec


class Endpoint(msgspec.Struct, kw_only=True):
    """A container's attachment to one network, with its addresses."""

    id: str
    network_id: str
    container_id: str
    ifname: str = ""          # name inside the sandbox (eth0, eth1...)
    host_ifname: str = ""     # host end of the veth, if any
    mac: str = ""
    ipv4: str = ""            # address/prefix, e.g. 172.18.0.2/16
    ipv6: str = ""
    gateway4: str = ""
    gateway6: str = ""
    aliases: list[str] = []
    dns_names: list[str] = []
    static_ipv4: str = ""     # user-requested via IPAMConfig
    static_ipv6: str = ""
    driver_opts: dict[str, str] = {}
    gw_priority: int = 0
    links: list[str] = []
    link_local_ips: list[str] = []   # IPAMConfig.LinkLocalIPs, plain, on the interface too
    dns_servers: list[str] = []      # from its DHCP lease (dhcp IPAM): the resolver's upstreams


class EndpointSettings(msgspec.Struct, kw_only=True):
    """A container's wish to be on a network (kept while it is stopped)."""

    network_id: str
    aliases: list[str] = []
    ipv4: str = ""            # static address requested (plain)
    ipv6: str = ""
    mac: str = ""
    driver_opts: dict[str, str] = {}
    gw_priority: int = 0
    links: list[str] = []
    # the addresses held when the container last stopped (plain): asked for again
    # at its next start, so a restarted container keeps its IP when it is free
    last_ipv4: str = ""
    last_ipv6: str = ""
    link_local_ips: list[str] = []   # IPAMConfig.LinkLocalIPs (core/epopts.py)
