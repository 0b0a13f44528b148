"""A container's MAC address on create, by API version (dockerd's
handleMACAddressBC).

- API < 1.44: the container-wide `Config.MacAddress` is the MAC of the
  endpoint on the network of `HostConfig.NetworkMode` (bridge or a user
  network; with another mode: "conflicting options: mac-address and the
  network mode"); an `EndpointSettings.MacAddress` is dropped, as those
  versions never read it.
- API >= 1.44: `EndpointSettings.MacAddress` sets each endpoint's MAC; a
  deprecated `Config.MacAddress` still goes to the main network's endpoint
  and must then match one given there.
Every MAC is checked (six octets, ":" or "-" separated, unicast) and written
lowercase with ":"; a bad one is a 400 naming it.
"""

from __future__ import annotations

import re

from ...errors import InvalidParameter
from ...model import EndpointSettings

_MAC = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}")
NOT_BRIDGE_OR_USER = ("host", "none")


def check_mac(value: str, what: str) -> str:
    """A MAC address normalized ("02:42:ac:11:00:02"), or InvalidParameter."""
    if not _MAC.fullmatch(value):
        raise InvalidParameter(f"invalid MAC address {value!r} ({what})")
    mac = value.lower().replace("-", ":")
    if int(mac[:2], 16) & 1:
        raise InvalidParameter(f"invalid MAC address {value!r} ({what}): a multicast address "
                               f"cannot be an interface's")
    return mac


def _older(version: str | None, than: tuple[int, int]) -> bool:
    if not version:
        return False
    major, _, minor = version.partition(".")
    return (int(major), int(minor or 0)) < than


def apply_mac_address(config_mac: str, endpoints: dict, network_mode: str,
                      version: str | None) -> None:
    """Set the endpoints' `mac` from the request as dockerd does for `version`
    (None: the current one); `endpoints` maps network refs to EndpointSettings
    (made with `new_settings()` when the main network has none)."""
    mode = network_mode or "default"
    main = "bridge" if mode == "default" else mode
    bridge_or_user = mode not in NOT_BRIDGE_OR_USER and not mode.startswith("container:")
    if _older(version, (1, 44)):
        for st in endpoints.values():
            st.mac = ""
        if not config_mac:
            return
        if not bridge_or_user:
            raise InvalidParameter("conflicting options: mac-address and the network mode")
        mac = check_mac(config_mac, "MacAddress")
        target = endpoints.get(main) or endpoints.get(mode) or endpoints.get("default")
        if target is None:
            if endpoints:   # one given under another name (an id): that one is the main
                target = next(iter(endpoints.values()))
            else:
                target = endpoints[main] = EndpointSettings(network_id="")
        target.mac = mac
        return
    for ref, st in endpoints.items():
        if st.mac:
            st.mac = check_mac(st.mac, f"EndpointsConfig[{ref}].MacAddress")
    if not config_mac:
        return
    mac = check_mac(config_mac, "MacAddress")
    if not bridge_or_user:
        return   # dockerd drops it (with a deprecation warning)
    if not endpoints:
        endpoints[main] = EndpointSettings(network_id="")
    for st in endpoints.values():
        if st.mac and st.mac != mac:
            raise InvalidParameter("the container-wide MAC address must match the "
                                   "endpoint-specific MAC address for the main network, or "
                                   "be left empty")
        st.mac = mac
