"""boxnetd's command line, mirroring dockerd's flag names."""

from __future__ import annotations

import argparse
import ipaddress
import re

from ..core.config import DaemonConfig
from ..errors import InvalidParameter
from ..kernel.procfacts import host_facts
from ..ipam.pools import parse_address_pool
from ..dns.options import dns_flags
from ..drivers.overlay.options import add_cluster_flags, cluster_flags
from ..firewall.flags import add_firewall_flags, firewall_flags
from ..registry.options import add_registry_flags, registry_flags


_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(prog="boxnetd", description="boxnet container networking daemon "
                                "(Docker Engine API 1.24 to 1.52 on a unix socket)")
    p.add_argument("--data-root", default="/var/lib/boxnet", help="state directory")
    p.add_argument("--exec-root", default="/run/boxnet", help="run directory (netns pins)")
    p.add_argument("-H", "--host", default="unix:///run/boxnet/boxnet.sock",
                   help="socket to listen on (unix://PATH)")
    p.add_argument("--default-address-pool", action="append", default=[],
                   metavar="base=CIDR,size=N", help="default address pool (repeatable)")
    p.add_argument("--bip", default="", help="address/prefix of the default bridge (boxnet0)")
    p.add_argument("--ipv6", action="store_true",
                   help="IPv6 on the default bridge network too (its subnet: --fixed-cidr-v6, "
                        "else a /64 of the host's ULA pool)")
    p.add_argument("--fixed-cidr-v6", default="", metavar="CIDR",
                   help="IPv6 subnet of the default bridge network (needs --ipv6)")
    p.add_argument("--host-gateway-ip", action="append", default=[], metavar="IP",
                   help="address(es) of `host-gateway` in --add-host (one IPv4, one IPv6; "
                        "default: the default bridge's gateways)")
    p.add_argument("-b", "--bridge", default="boxnet0", metavar="NAME",
                   help="device of the default bridge network (default boxnet0; none: no "
                        "default bridge network, e.g. for a second daemon in one netns)")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warn", "error", "fatal"])
    p.add_argument("--pidfile", default="", help="write the daemon's pid here")
    p.add_argument("-G", "--group", default="",
                   help="group owning the API socket (mode 0660; default root)")
    p.add_argument("--firewall", default="nftables", choices=["nftables", "none"],
                   help="firewall backend (none: no isolation between networks)")
    p.add_argument("--dns", action="append", default=[], metavar="IP",
                   help="default upstream DNS server for containers (repeatable; "
                        "default: the host's resolv.conf)")
    p.add_argument("--dns-ttl", type=int, default=5, metavar="SECONDS",
                   help="TTL of the embedded DNS server's own answers (default 5)")
    p.add_argument("--dns-timeout", type=float, default=4.0, metavar="SECONDS",
                   help="timeout of one forwarded DNS query, all upstreams (default 4)")
    p.add_argument("--allow-host-image", action="store_true",
                   help="offer the boxnet/host image: containers read the host's root "
                        "filesystem (boxnet's own state masked); off by default")
    p.add_argument("--init", action="store_true",
                   help="run an init (tini) as PID 1 in containers that do not say "
                        "(HostConfig.Init unset), as dockerd --init")
    p.add_argument("--docker-plugin", nargs="?", const="/run/docker/plugins/boxnet.sock",
                   default="", metavar="SOCKET",
                   help="also serve Docker's remote network driver and IPAM plugin protocols "
                        "(driver and IPAM driver `boxnet`) on SOCKET "
                        "(default /run/docker/plugins/boxnet.sock): docs/plugins.md")
    p.add_argument("--flows", default="on", choices=["on", "off"],
                   help="live flows (GET /boxnet/v1/flows, boxnet flows, the UI's flows): "
                        "conntrack events and accounting, the firewall's drop log rules "
                        "(off: none of them; default on)")
    add_cluster_flags(p)
    add_firewall_flags(p)
    add_registry_flags(p)
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def _init(wanted: bool) -> bool:
    if wanted and not host_facts().init_path:
        raise InvalidParameter("--init: no init binary on this host (install Debian's tini: "
                               "/usr/bin/tini-static)")
    return wanted


def _default_bridge_v6(args: argparse.Namespace) -> dict:
    """--ipv6 and --fixed-cidr-v6, checked: a canonical IPv6 subnet, and only with --ipv6."""
    cidr = args.fixed_cidr_v6
    if cidr:
        if not args.ipv6:
            raise InvalidParameter(f"--fixed-cidr-v6 {cidr}: needs --ipv6")
        if args.bridge == "none":
            raise InvalidParameter("--bridge none and --fixed-cidr-v6 are mutually exclusive")
        try:
            net = ipaddress.ip_network(cidr)
        except ValueError:
            raise InvalidParameter(f"--fixed-cidr-v6 {cidr}: not a canonical CIDR "
                                   f"(e.g. fd00:db8:1::/64)") from None
        if net.version != 6:
            raise InvalidParameter(f"--fixed-cidr-v6 {cidr}: not an IPv6 subnet")
        cidr = str(net)
    return {"ipv6": bool(args.ipv6), "fixed_cidr_v6": cidr}


def _host_gateway_ips(values: list[str]) -> list[str]:
    """--host-gateway-ip values: addresses, at most one per family (Docker 28)."""
    seen: dict[int, str] = {}
    for v in values:
        try:
            ip = ipaddress.ip_address(v)
        except ValueError:
            raise InvalidParameter(f"--host-gateway-ip {v!r}: not an IP address") from None
        if ip.version in seen:
            raise InvalidParameter(f"--host-gateway-ip: only one IPv{ip.version} address "
                                   f"may be given ({seen[ip.version]}, {ip})")
        seen[ip.version] = str(ip)
    return [seen[f] for f in sorted(seen)]


def to_config(args: argparse.Namespace) -> DaemonConfig:
    """Validate the flags; InvalidParameter with a usable message on bad input."""
    if not args.host.startswith("unix://") or len(args.host) <= len("unix://"):
        raise InvalidParameter(f"-H {args.host}: only unix://PATH sockets are supported")
    pools = [parse_address_pool(s) for s in args.default_address_pool]
    if args.bip:
        try:
            iface = ipaddress.ip_interface(args.bip)
        except ValueError:
            raise InvalidParameter(f"--bip {args.bip}: expected address/prefix, "
                                   f"e.g. 172.17.0.1/16") from None
        if iface.version != 4 or iface.ip == iface.network.network_address:
            raise InvalidParameter(f"--bip {args.bip}: needs an IPv4 host address with a prefix")
    if args.bridge != "none" and not _IFNAME.match(args.bridge):
        raise InvalidParameter(f"--bridge {args.bridge!r}: an interface name of 1 to 15 letters, "
                               "digits, '_', '.', '-', or none")
    v6 = _default_bridge_v6(args)
    if args.bridge == "none" and args.bip:
        raise InvalidParameter("--bridge none and --bip are mutually exclusive (no default "
                               "bridge network to give an address)")
    return DaemonConfig(data_root=args.data_root, exec_root=args.exec_root, host=args.host,
                        default_pools=pools, bip=args.bip, bridge=args.bridge, **v6,
                        host_gateway_ips=_host_gateway_ips(args.host_gateway_ip),
                        firewall=args.firewall, flows=args.flows == "on",
                        allow_host_image=args.allow_host_image, init=_init(args.init),
                        **dns_flags(args), **cluster_flags(args), **firewall_flags(args),
                        **registry_flags(args))
