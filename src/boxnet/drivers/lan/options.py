"""Driver options the macvlan and ipvlan drivers read (Docker's option rules):
booleans, one-of choices, and which subnet of a network holds an address."""

from __future__ import annotations

import ipaddress

from ...errors import InvalidParameter
from ...model import Network

OPT_PARENT = "parent"
OPT_HOST_ACCESS = "boxnet.host_access"
TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")


def bool_opt(nw: Network, key: str) -> bool:
    """A boolean driver option (true/false/1/0...); InvalidParameter otherwise."""
    val = str(nw.options.get(key, "")).strip().lower()
    if val in TRUE:
        return True
    if val in FALSE:
        return False
    raise InvalidParameter(f"invalid value {val!r} for option {key}: expected true or false")


def choice(nw: Network, key: str, allowed: dict, default: str) -> str:
    """A driver option that must be one of `allowed`'s keys (Docker's wording)."""
    val = str(nw.options.get(key, "") or default).strip().lower()
    if val not in allowed:
        raise InvalidParameter(f"requested {key} {val!r} is not valid; use one of: "
                               f"{', '.join(allowed)}")
    return val


def subnet_of(nw: Network, cidr: str) -> str | None:
    """The network's subnet holding address `cidr`."""
    ip = ipaddress.ip_interface(cidr).ip
    for pool in nw.pools:
        if ip in ipaddress.ip_network(pool.subnet):
            return pool.subnet
    return None
