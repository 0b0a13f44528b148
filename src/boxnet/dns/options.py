"""boxnetd's DNS flags (--dns, --dns-ttl, --dns-timeout), validated."""

from __future__ import annotations

import ipaddress

from ..errors import InvalidParameter


def dns_flags(args) -> dict:
    """DaemonConfig fields from the parsed flags; InvalidParameter on bad values."""
    for server in args.dns:
        try:
            ipaddress.ip_address(server)   # also written to resolv.conf: no port
        except ValueError:
            raise InvalidParameter(f"--dns {server}: not an IP address") from None
    if not 0 <= args.dns_ttl <= 86400:
        raise InvalidParameter(f"--dns-ttl {args.dns_ttl}: must be 0..86400 seconds")
    if not 0.1 <= args.dns_timeout <= 60:
        raise InvalidParameter(f"--dns-timeout {args.dns_timeout}: must be 0.1..60 seconds")
    return {"dns": list(args.dns), "dns_ttl": args.dns_ttl, "dns_timeout": args.dns_timeout}
