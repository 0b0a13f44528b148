"""Parsing and validation of Docker's bridge driver options."""

from __future__ import annotations

import ipaddress
import re

from ...errors import InvalidParameter
from ...model import Network

OPT_NAME = "com.docker.network.bridge.name"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
OPT_HOST_IPV4 = "com.docker.network.bridge.host_binding_ipv4"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_DEFAULT = "com.docker.network.bridge.default_bridge"
KNOWN = {OPT_NAME, OPT_ICC, OPT_MASQ, OPT_HOST_IPV4, OPT_MTU, OPT_DEFAULT,
         "com.docker.network.bridge.inhibit_ipv4",
         "com.docker.network.bridge.gateway_mode_ipv4",
         "com.docker.network.bridge.gateway_mode_ipv6",
         "com.docker.network.container_iface_prefix"}

_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def _bool(nw: Network, key: str, default: bool) -> bool:
    val = nw.options.get(key)
    if val is None or val == "":
        return default
    low = val.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise InvalidParameter(f"invalid value {val!r} for option {key}: expected true or false")


def bridge_name(nw: Network) -> str:
    """The bridge device: the option, else br-<12 hex of the id>."""
    name = nw.options.get(OPT_NAME)
    return name if name else "br-" + nw.id[:12]


def mtu(nw: Network) -> int | None:
    """The MTU option, validated (68..65535), or None for the kernel default."""
    val = nw.options.get(OPT_MTU)
    if not val:
        return None
    try:
        n = int(val)
    except ValueError:
        raise InvalidParameter(f"invalid MTU {val!r}: expected a number") from None
    if not 68 <= n <= 65535:
        raise InvalidParameter(f"invalid MTU {n}: must be between 68 and 65535")
    return n


def icc(nw: Network) -> bool:
    """Inter-container communication on this bridge (default true)."""
    return _bool(nw, OPT_ICC, True)


def masquerade(nw: Network) -> bool:
    """Outbound NAT for this bridge (default true)."""
    return _bool(nw, OPT_MASQ, True)


def validate(nw: Network) -> None:
    """Raise InvalidParameter for any bad bridge option value."""
    name = nw.options.get(OPT_NAME)
    if name is not None and name != "" and not _IFNAME.match(name):
        raise InvalidParameter(
            f"invalid bridge name {name!r}: 1 to 15 characters of letters, digits, '_', '.', '-'")
    mtu(nw)
    icc(nw)
    masquerade(nw)
    host_ip = nw.options.get(OPT_HOST_IPV4)
    if host_ip:
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise InvalidParameter(f"invalid {OPT_HOST_IPV4} {host_ip!r}: not an IPv4 address") from None
