"""boxnetd flags of the firewall and port publishing (dockerd's names)."""

from __future__ import annotations

import argparse
import ipaddress

from ..errors import InvalidParameter


def add_firewall_flags(p: argparse.ArgumentParser) -> None:
    """--ip, --no-host-network, --firewall-check-interval, --allow-direct-routing."""
    p.add_argument("--ip", default="0.0.0.0", metavar="IP",
                   help="default host address of published ports (default 0.0.0.0: all, "
                        "IPv4 and IPv6)")
    p.add_argument("--no-host-network", action="store_true",
                   help="refuse containers with --network host (enforce segmentation)")
    p.add_argument("--firewall-check-interval", type=float, default=2.0, metavar="SECONDS",
                   help="how often boxnet checks that its nftables tables are intact and "
                        "restores them (0: never; default 2)")
    p.add_argument("--allow-direct-routing", action="store_true",
                   help="let any host interface route straight to the container side of "
                        "published ports (default: only host-address:host-port is the way in; "
                        "per network: com.docker.network.bridge.trusted_host_interfaces)")


def firewall_flags(args: argparse.Namespace) -> dict:
    """DaemonConfig fields from the flags; InvalidParameter on a bad value."""
    try:
        ip = ipaddress.ip_address(args.ip)
    except ValueError:
        raise InvalidParameter(f"--ip {args.ip}: not an IP address") from None
    if args.firewall_check_interval < 0:
        raise InvalidParameter("--firewall-check-interval must be >= 0")
    return {"default_bind_ip": "" if ip.is_unspecified and ip.version == 4 else str(ip),
            "no_host_network": bool(args.no_host_network),
            "firewall_check_interval": float(args.firewall_check_interval),
            "allow_direct_routing": bool(args.allow_direct_routing)}
