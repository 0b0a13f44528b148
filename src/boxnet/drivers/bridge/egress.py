"""What leaves a bridge network: its SNAT source and its strict isolation.

* `com.docker.network.host_ipv4` / `com.docker.network.host_ipv6` (Docker
  28's names; netavark calls it `outbound_addr`): the network's outbound
  traffic of that family is SNATed to this host address instead of being
  masqueraded to whatever address the route picks.  The address must be one
  of the host's (checked at create: a 400 otherwise) and the family must be
  NATed: IPv4/IPv6 enabled, masquerade on, not internal, gateway mode nat or
  nat-unprotected (a `routed` network is not NATed, so a source address
  would be accepted and ignored: refused instead).
* `com.docker.network.bridge.isolate=strict` (netavark 2's default, an
  option here): Docker isolates networks from each other but lets a container
  reach another network's published ports through the host's addresses (the
  DNAT takes the packet into the other bridge); a strict network's containers
  cannot do that either.  Its own published ports stay reachable (hairpin),
  and the outside world reaches its published ports as before.
"""

from __future__ import annotations

import ipaddress

from ...errors import InvalidParameter
from ...model import Network
from . import options

OPT_HOST_SNAT = {4: "com.docker.network.host_ipv4", 6: "com.docker.network.host_ipv6"}
ISOLATE_VALUES = ("strict",)
# refused by the other drivers (overlay, macvlan, ipvlan): a 400 naming the key, not ignored
BRIDGE_ONLY = (OPT_HOST_SNAT[4], OPT_HOST_SNAT[6], options.OPT_ISOLATE)


def refuse_bridge_only(nw: Network, driver: str) -> None:
    """InvalidParameter when a non-bridge network carries a bridge-only option."""
    for key in BRIDGE_ONLY:
        if key in nw.options:
            raise InvalidParameter(f"option {key} is not supported by the {driver} driver")


def strict(nw: Network) -> bool:
    """Whether the network is isolate=strict."""
    return (nw.options.get(options.OPT_ISOLATE) or "") == "strict"


def snat_address(nw: Network, family: int) -> str:
    """The host address outbound traffic of ``family`` leaves with ("" = masquerade)."""
    val = nw.options.get(OPT_HOST_SNAT[family]) or ""
    return str(ipaddress.ip_address(val)) if val else ""


def _check_snat(nw: Network, family: int) -> None:
    key = OPT_HOST_SNAT[family]
    val = nw.options.get(key)
    if val is None or val == "":
        return
    fam = f"IPv{family}"
    try:
        addr = ipaddress.ip_address(val)
    except ValueError:
        raise InvalidParameter(f"invalid {key} {val!r}: not an {fam} address") from None
    if addr.version != family:
        raise InvalidParameter(f"invalid {key} {val!r}: not an {fam} address")
    if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
        raise InvalidParameter(f"invalid {key} {val!r}: not a unicast host address")
    enabled = nw.enable_ipv6 if family == 6 else nw.enable_ipv4
    if not enabled:
        raise InvalidParameter(f"option {key} needs {fam} on the network")
    if nw.internal:
        raise InvalidParameter(f"option {key}: an internal network has no outbound traffic")
    if not options.masquerade(nw):
        raise InvalidParameter(f"option {key} needs NAT: {options.OPT_MASQ} is false")
    mode = options.gateway_mode(nw, family)
    if mode not in ("nat", "nat-unprotected"):
        raise InvalidParameter(f"option {key} needs NAT: {options.OPT_GW_MODE[family]} "
                               f"is {mode}")


def validate(nw: Network) -> None:
    """Raise InvalidParameter for a bad SNAT address or isolate value (no kernel asked)."""
    _check_snat(nw, 4)
    _check_snat(nw, 6)
    val = nw.options.get(options.OPT_ISOLATE)
    if val is not None and val != "" and val not in ISOLATE_VALUES:
        raise InvalidParameter(f"invalid value {val!r} for option {options.OPT_ISOLATE}: "
                               f"expected strict (networks are always isolated from each "
                               f"other; strict also closes other networks' published ports)")


async def check_on_host(netlink, nw: Network) -> None:
    """A SNAT address must be the host's own: a 400 naming it otherwise."""
    for family, key in OPT_HOST_SNAT.items():
        addr = snat_address(nw, family)
        if addr and not await netlink.host_has_address(addr):
            raise InvalidParameter(f"invalid {key} {addr}: not an address of this host")
