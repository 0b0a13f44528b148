"""Endpoint options of EndpointSettings: the interface name, per-interface
sysctls and link-local addresses, checked as dockerd does (sans-I/O).

- `DriverOpts["com.docker.network.endpoint.ifname"]`: the interface's name in
  the container (Docker 28). It must be a name the kernel accepts (1 to 15
  bytes, not "." or "..", no "/", ":" or white space) and not be used by
  another endpoint of the same container.
- `DriverOpts["com.docker.network.endpoint.sysctls"]`: comma separated
  `net.ipv4.conf.IFNAME.KEY=VALUE` / `net.ipv6.conf.IFNAME.KEY=VALUE`; the
  interface name is written `IFNAME` (or `ifname`: the docker CLI lowercases
  driver options), as dockerd's validateEndpointSettings; the value is set
  on the endpoint's interface when it is plumbed.
- `IPAMConfig.LinkLocalIPs`: addresses in 169.254.0.0/16 or fe80::/10, put
  on the interface (/16 and /64) beside the IPAM addresses.
Every failure is an InvalidParameter (400) naming the offending value, raised
before anything is changed.
"""

from __future__ import annotations

import ipaddress
import re

from ..errors import InvalidParameter
from ..model import EndpointSettings
from . import bandwidth

IFNAME_OPT = "com.docker.network.endpoint.ifname"
SYSCTLS_OPT = "com.docker.network.endpoint.sysctls"
NMSGS_OPT = "com.docker.network.advertise_addr_nmsgs"
INTERVAL_OPT = "com.docker.network.advertise_addr_ms"
_V4_LL = ipaddress.ip_network("169.254.0.0/16")
_V6_LL = ipaddress.ip_network("fe80::/10")
_KEY_PART = re.compile(r"^[A-Za-z0-9_-]+$")


def requested_ifname(st: EndpointSettings) -> str:
    """The interface name asked for in `st`'s driver options ("" for none)."""
    return st.driver_opts.get(IFNAME_OPT, "")


def check_ifname(name: str) -> str:
    """`name` if the kernel would take it as a link name (dev_valid_name),
    else InvalidParameter."""
    if (not name or len(name.encode()) > 15 or name in (".", "..")
            or any(ch in name for ch in "/:") or any(ch.isspace() for ch in name)):
        raise InvalidParameter(
            f"invalid interface name {name!r} ({IFNAME_OPT}): a name is 1 to 15 bytes, "
            "not '.' or '..', without '/', ':' or white space")
    return name


def parse_sysctls(value: str) -> list[tuple[str, str, str]]:
    """[(family "ipv4"|"ipv6", key, value)] of a sysctls option, or
    InvalidParameter naming the first entry outside net.ipv4.conf.IFNAME.* /
    net.ipv6.conf.IFNAME.*."""
    out = []
    for item in value.split(","):
        name, eq, val = item.partition("=")
        parts = name.split(".", 4)
        if (not eq or len(parts) != 5 or parts[0] != "net" or parts[1] not in ("ipv4", "ipv6")
                or parts[2] != "conf" or parts[3] not in ("IFNAME", "ifname")
                or not all(_KEY_PART.match(p) for p in parts[4].split("."))
                or "\n" in val):
            raise InvalidParameter(
                f"unrecognised network interface sysctl '{item}'; represent the network "
                "interface name as 'IFNAME', for example 'net.ipv4.conf.IFNAME.forwarding=1' "
                "(only net.ipv4.conf.IFNAME.* and net.ipv6.conf.IFNAME.* can be set)")
        out.append((parts[1], parts[4], val.strip()))
    return out


def sysctl_paths(value: str, ifname: str) -> list[tuple[str, str]]:
    """[(sysctl path "net/ipv4/conf/<ifname>/<key>", value)] for an interface:
    the path form, since interface names may hold dots."""
    return [(f"net/{fam}/conf/{ifname}/{key.replace('.', '/')}", val)
            for fam, key, val in parse_sysctls(value)]


def link_local_cidrs(ips: list[str]) -> list[str]:
    """The link-local addresses as put on the interface ("169.254.1.2/16",
    "fe80::12/64"), or InvalidParameter for one that is not link-local."""
    out = []
    for text in ips:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise InvalidParameter(f"invalid link-local IP address {text!r} "
                                   "(IPAMConfig.LinkLocalIPs)") from None
        if ip not in (_V4_LL if ip.version == 4 else _V6_LL):
            raise InvalidParameter(f"invalid link-local IP address {text}: not in "
                                   f"{_V4_LL if ip.version == 4 else _V6_LL} "
                                   "(IPAMConfig.LinkLocalIPs)")
        out.append(f"{ip}/{16 if ip.version == 4 else 64}")
    return out


def advertise_settings(options: dict[str, str]) -> tuple[int, float]:
    """(messages, seconds between them) of the address announcements on a
    network (kernel/announce.py): the network options
    com.docker.network.advertise_addr_nmsgs (0 to 3, default 3; 0: none) and
    com.docker.network.advertise_addr_ms (100 to 2000, default 1000), with
    dockerd's refusals."""
    count, ms = 3, 1000
    if NMSGS_OPT in options:
        try:
            count = int(options[NMSGS_OPT])
        except ValueError:
            raise InvalidParameter(f'value for option {NMSGS_OPT} "{options[NMSGS_OPT]}" '
                                   "must be an integer") from None
        if not 0 <= count <= 3:
            raise InvalidParameter(f"{NMSGS_OPT} must be in the range 0 to 3")
    if INTERVAL_OPT in options:
        try:
            ms = int(options[INTERVAL_OPT])
        except ValueError:
            raise InvalidParameter(f'value for option {INTERVAL_OPT} "{options[INTERVAL_OPT]}" '
                                   "must be integer milliseconds") from None
        if not 100 <= ms <= 2000:
            raise InvalidParameter(f"{INTERVAL_OPT} must be in the range 100 to 2000")
    return count, ms / 1000


def check_known_keys(driver_opts: dict[str, str]) -> None:
    """Every endpoint driver option a client sends is one boxnet honours: Docker's
    bridge driver ignores the others, boxnet refuses them naming the key (an option
    silently dropped is how a user ends up without the limit or name they asked for)."""
    known = (IFNAME_OPT, SYSCTLS_OPT, bandwidth.EGRESS_OPT, bandwidth.INGRESS_OPT)
    for key in driver_opts:
        if key not in known:
            raise InvalidParameter(f"endpoint driver option {key!r} is not supported by "
                                   f"boxnet (supported: {', '.join(known)})")


def check_settings(st: EndpointSettings) -> None:
    """The endpoint options of one EndpointSettings, each well-formed."""
    if IFNAME_OPT in st.driver_opts:
        check_ifname(st.driver_opts[IFNAME_OPT])
    if SYSCTLS_OPT in st.driver_opts:
        parse_sysctls(st.driver_opts[SYSCTLS_OPT])
    link_local_cidrs(st.link_local_ips)
    bandwidth.check(st.driver_opts)   # com.boxnet.endpoint.egress_rate / ingress_rate


def check_ifname_clash(st: EndpointSettings, used: set[str], network: str) -> None:
    """`st`'s requested interface name is not already taken (by another
    endpoint of the container or another of its settings): else 400."""
    name = requested_ifname(st)
    if name and name in used:
        raise InvalidParameter(
            f"interface name {name} ({IFNAME_OPT}) for network {network} is already used by "
            "another endpoint of the container")
