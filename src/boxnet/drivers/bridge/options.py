"""Parsing and validation of Docker's bridge driver options.

Every `com.docker.network.bridge.*` option Docker 29 documents is honoured
or refused with a 400 naming it; an unknown key under that prefix (a typo
such as `enable_icc_` or `gateway_mode`) is refused too, never stored and
ignored.
"""

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
OPT_INHIBIT4 = "com.docker.network.bridge.inhibit_ipv4"
OPT_GW_MODE = {4: "com.docker.network.bridge.gateway_mode_ipv4",
               6: "com.docker.network.bridge.gateway_mode_ipv6"}
OPT_TRUSTED = "com.docker.network.bridge.trusted_host_interfaces"
OPT_ISOLATE = "com.docker.network.bridge.isolate"   # boxnet's: strict (egress.py)
OPT_IFACE_PREFIX = "com.docker.network.container_iface_prefix"
BRIDGE_PREFIX = "com.docker.network.bridge."
KNOWN = {OPT_NAME, OPT_ICC, OPT_MASQ, OPT_HOST_IPV4, OPT_MTU, OPT_DEFAULT, OPT_INHIBIT4,
         OPT_GW_MODE[4], OPT_GW_MODE[6], OPT_TRUSTED, OPT_ISOLATE}
# Options boxnet does not implement: a 400 naming them, never ignored.  netavark's bare
# option names (podman network create -o NAME=...) are here so that a Podman user's
# `-o metric=100` is not silently dropped; other keys without Docker's prefixes are kept
# and shown, as Docker's bridge driver does with generic options.
NOT_IMPLEMENTED: dict[str, str] = {
    "mtu": "netavark's name; use com.docker.network.driver.mtu",
    "isolate": "netavark's name; use com.docker.network.bridge.isolate=strict",
    "metric": "netavark's default-route metric; the default route follows GwPriority",
    "routes": "netavark's static routes are not supported",
    "no_default_route": "netavark's option; not supported",
    "vrf": "VRF devices are not supported",
    "vlan": "bridge VLAN filtering is not supported",
    "mode": "netavark's unmanaged bridges are not supported",
}
GATEWAY_MODES = ("nat", "nat-unprotected", "routed", "isolated")

_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,11}$")   # room left for the index


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


def gateway_mode(nw: Network, family: int) -> str:
    """Docker's gateway mode of one family (default nat)."""
    return nw.options.get(OPT_GW_MODE[family]) or "nat"


def trusted_interfaces(nw: Network) -> tuple[str, ...]:
    """Host interfaces allowed direct routing to published ports (colon-separated)."""
    val = nw.options.get(OPT_TRUSTED) or ""
    return tuple(x for x in val.split(":") if x)


def inhibit_ipv4(nw: Network) -> bool:
    """Leave the IPv4 gateway address off the bridge (default false)."""
    return _bool(nw, OPT_INHIBIT4, False)


def bridge_has_address(nw: Network, family: int) -> bool:
    """Whether the bridge carries the network's gateway address of ``family``:
    not in `isolated` mode, and not for IPv4 with inhibit_ipv4."""
    if gateway_mode(nw, family) == "isolated":
        return False
    return not (family == 4 and inhibit_ipv4(nw))


def _validate_modes(nw: Network) -> None:
    for fam, key in OPT_GW_MODE.items():
        mode = nw.options.get(key)
        if mode is None or mode == "":
            continue
        if mode not in GATEWAY_MODES:
            raise InvalidParameter(f"invalid value {mode!r} for option {key}: expected one of "
                                   + ", ".join(GATEWAY_MODES))
        if mode == "isolated" and not nw.internal:
            raise InvalidParameter(f"option {key}=isolated needs an internal network (--internal)")
    for name in trusted_interfaces(nw):
        if not _IFNAME.match(name):
            raise InvalidParameter(f"invalid interface name {name!r} in option {OPT_TRUSTED}")
    inhibit_ipv4(nw)
    prefix = nw.options.get(OPT_IFACE_PREFIX)
    if prefix is not None and prefix != "" and not _PREFIX.match(prefix):
        raise InvalidParameter(f"invalid {OPT_IFACE_PREFIX} {prefix!r}: 1 to 12 letters, "
                               f"digits, '_' or '-', starting with a letter")


def _validate_keys(nw: Network) -> None:
    for key in nw.options:
        if key in NOT_IMPLEMENTED:
            raise InvalidParameter(f"option {key} is not supported by boxnet: "
                                   f"{NOT_IMPLEMENTED[key]}")
        if key.startswith(BRIDGE_PREFIX) and key not in KNOWN:
            raise InvalidParameter(f"unknown bridge option {key}")
    if nw.options.get(OPT_DEFAULT) and not nw.predefined:
        raise InvalidParameter(f"option {OPT_DEFAULT} is reserved for the predefined "
                               f"bridge network")


def validate(nw: Network) -> None:
    """Raise InvalidParameter for any bad bridge option value."""
    _validate_keys(nw)
    _validate_modes(nw)
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
