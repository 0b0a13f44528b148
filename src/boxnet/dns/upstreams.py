"""Which upstream servers the embedded resolver forwards to.

A container's --dns servers if it has any, else the daemon's defaults: the
daemon's --dns flag, else the host's resolv.conf as the daemon sees it. When
that file only names systemd-resolved's local stub (127.0.0.53), the real
upstreams are in /run/systemd/resolve/resolv.conf. Loopback servers are kept:
forwarding happens from the daemon's netns, where they are reachable.
"""

from __future__ import annotations

import ipaddress
import os

HOST_RESOLV = "/etc/resolv.conf"
RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"
RESOLVED_STUBS = {"127.0.0.53", "127.0.0.54"}


def read_nameservers(path: str) -> list[str]:
    """The valid `nameserver` addresses of a resolv.conf, in order ([] if unreadable)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        ipaddress.ip_address(parts[1].split("%")[0])
                    except ValueError:
                        continue
                    out.append(parts[1])
    except OSError:
        pass
    return out


def host_upstreams(path: str = HOST_RESOLV, resolved_path: str = RESOLVED_UPSTREAM) -> list[str]:
    """The host's upstream servers, looking through systemd-resolved's stub."""
    servers = read_nameservers(path)
    if servers and all(s in RESOLVED_STUBS for s in servers) and os.path.exists(resolved_path):
        real = read_nameservers(resolved_path)
        if real:
            return real
    return servers


def upstream_addr(server: str) -> tuple[str, int]:
    """'1.2.3.4', '[fd00::1]:5353', '1.2.3.4:5353' or 'fe80::1%eth0' -> (ip, port)."""
    if server.startswith("["):
        host, _, port = server[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53

