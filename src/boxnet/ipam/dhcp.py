"""The "dhcp" IPAM driver (as netavark's and the CNI dhcp plugin): a network
with it has no pools of boxnet's; each endpoint's address, gateway and DNS
servers are leased from the LAN's DHCP server by the daemon (dhcp/leases.py),
from the endpoint's own interface. Only drivers whose endpoints sit on a LAN
(macvlan, ipvlan) can use it; these are the rules the core checks.
"""

from __future__ import annotations

from ..errors import InvalidParameter

NAME = "dhcp"


def uses_dhcp(ipam_driver: str | None) -> bool:
    """Whether an IPAM driver name is this one."""
    return ipam_driver == NAME


def check_network(driver: str, capable: bool, configs: list, enable_ipv4: bool,
                  enable_ipv6: bool, options: dict | None = None) -> None:
    """Refuse what a dhcp network cannot honour, naming the conflict: a driver
    without a LAN (bridge, overlay...), a subnet/range/gateway/aux address of
    boxnet's (the server decides them), IPv6 (DHCPv6 is not implemented), no IPv4,
    IPAM options (the driver has none)."""
    if options:
        raise InvalidParameter(f"the dhcp IPAM driver has no options: --ipam-opt "
                               f"{', '.join(sorted(options))} cannot be given")
    if not capable:
        raise InvalidParameter(f'the dhcp IPAM driver needs a macvlan or ipvlan network: '
                               f'the {driver} driver has no LAN with a DHCP server')
    for cfg in configs:
        for field, flag in (("subnet", "--subnet"), ("ip_range", "--ip-range"),
                            ("gateway", "--gateway")):
            if getattr(cfg, field, None):
                raise InvalidParameter(f"the dhcp IPAM driver takes its addresses from the "
                                       f"LAN's DHCP server: {flag} cannot be given")
        if getattr(cfg, "aux_addresses", None):
            raise InvalidParameter("the dhcp IPAM driver takes its addresses from the LAN's "
                                   "DHCP server: --aux-address cannot be given")
    if enable_ipv6:
        raise InvalidParameter("the dhcp IPAM driver leases IPv4 addresses only (DHCPv6 is "
                               "not implemented): --ipv6 cannot be given")
    if not enable_ipv4:
        raise InvalidParameter("the dhcp IPAM driver leases IPv4 addresses: --ipv4=false "
                               "cannot be given")


def check_static(network: str, ipv4: str, ipv6: str) -> None:
    """A static --ip/--ip6 on a dhcp network is refused, naming the network."""
    if ipv4 or ipv6:
        flag = "--ip" if ipv4 else "--ip6"
        raise InvalidParameter(f"network {network} uses the dhcp IPAM driver (addresses "
                               f"come from the LAN's DHCP server): {flag} cannot be given")
