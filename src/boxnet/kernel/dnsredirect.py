"""The embedded resolver's sockets and the redirect of 127.0.0.11:53 to them.

Docker serves its resolver on random ports and DNATs 127.0.0.11:53 to them
with iptables rules inside the container's namespace, so a program in the
container may bind port 53 itself (dnsmasq, CoreDNS, Pi-hole, bind). boxnet
does the same, statelessly: the resolver's UDP and TCP sockets are bound on
127.0.0.11 at ports the kernel picks, and one table of boxnet's own in the
container's netns, ``ip boxnet_dns``, rewrites the ports on the way:

* ``output`` (priority raw, before conntrack): a packet to 127.0.0.11 port
  53 gets the resolver's port as destination;
* ``postrouting`` (priority 300, after conntrack and NAT): a packet from the
  resolver's socket gets 53 as source, so the client sees its answer come
  from 127.0.0.11:53.

Why rewriting the ports rather than Docker's DNAT: a nat chain makes the
kernel track every connection of the netns (conntrack is switched on per
netns as soon as a ruleset needs it), which costs each packet of the
container and one conntrack entry per query (a client takes a new source
port per lookup). Plain payload rewrites need no conntrack: the container's
own traffic is untouched, nothing can go stale when the daemon restarts and
picks new ports (the rules are replaced in one transaction and hold at once),
and a container that runs its own conntrack or nat rules sees consistent
tuples (the query already carries the resolver's port when conntrack first
sees it, the reply still does). Both rewrites keep the L4 checksum right
(nftables updates it); on loopback every packet goes through both hooks.

Everything happens in one hop of the netns worker thread
(kernel.netns.arun_in_netns): the sockets are made there (a socket belongs to
the netns it was made in) and the libnftables context too (its netlink socket
is that thread's netns's), one atomic transaction per sandbox.

If nftables cannot be used (no libnftables, a kernel without nf_tables), the
sockets are bound at port 53 as before, and the caller is told so: the
resolver works and port 53 is not free for the container's programs.
"""

from __future__ import annotations

import logging
import socket
from typing import NamedTuple

from ..errors import KernelError
from . import netns as _netns

log = logging.getLogger(__name__)

TABLE = "boxnet_dns"
DNS_PORT = 53


class ResolverSockets(NamedTuple):
    """What :func:`aopen` made in the netns."""

    udp: socket.socket
    tcp: socket.socket        # listening
    udp_port: int             # where the UDP socket really is (53 when not redirected)
    tcp_port: int
    redirected: bool          # True: 127.0.0.11:53 is rewritten to the ports above


def redirect_script(ip: str, udp_port: int, tcp_port: int) -> str:
    """The nft script that (re)places the ``ip boxnet_dns`` table: one transaction.

    ``table ...`` then ``delete table ...`` first, so a table left by a previous
    daemon (other ports) is replaced atomically and a fresh netns needs no check."""
    return (
        f"table ip {TABLE} {{}}\n"
        f"delete table ip {TABLE}\n"
        f"table ip {TABLE} {{\n"
        "  chain output {\n"
        "    type filter hook output priority raw; policy accept;\n"
        f"    ip daddr {ip} udp dport {DNS_PORT} udp dport set {udp_port}\n"
        f"    ip daddr {ip} tcp dport {DNS_PORT} tcp dport set {tcp_port}\n"
        "  }\n"
        "  chain postrouting {\n"
        "    type filter hook postrouting priority 300; policy accept;\n"
        f"    ip saddr {ip} udp sport {udp_port} udp sport set {DNS_PORT}\n"
        f"    ip saddr {ip} tcp sport {tcp_port} tcp sport set {DNS_PORT}\n"
        "  }\n"
        "}\n")


def _bind(ip: str, port: int) -> tuple[socket.socket, socket.socket]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((ip, port))
        udp.setblocking(False)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((ip, port))
        tcp.listen(64)
        tcp.setblocking(False)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


def _apply(script: str) -> None:
    """Run ``script`` with a libnftables context made in this thread's netns."""
    from .nft import Nft   # loads libnftables on first use only

    with Nft() as nft:
        nft.run(script)


def _open_here(ip: str) -> ResolverSockets:
    """Bind at kernel-picked ports and apply the redirect; runs inside the netns."""
    udp, tcp = _bind(ip, 0)
    up, tp = udp.getsockname()[1], tcp.getsockname()[1]
    try:
        _apply(redirect_script(ip, up, tp))
    except KernelError as e:
        udp.close()
        tcp.close()
        log.warning("dns: cannot redirect %s:53 in the container's netns (%s); "
                    "binding port 53 directly, which the container's programs "
                    "then cannot use", ip, e)
        udp, tcp = _bind(ip, DNS_PORT)
        return ResolverSockets(udp, tcp, DNS_PORT, DNS_PORT, False)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return ResolverSockets(udp, tcp, up, tp, True)


async def aopen(netns_path: str, ip: str) -> ResolverSockets:
    """The resolver's sockets in the netns at ``netns_path``, with 127.0.0.11:53
    redirected to them (sockets and table in one hop; the table replaces any
    earlier one, e.g. a previous daemon's)."""
    return await _netns.arun_in_netns(netns_path, _open_here, ip)


def _remove_here() -> None:
    _apply(f"table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")


async def aremove(netns_path: str) -> None:
    """Delete the redirect table in the netns (absent: nothing to do).

    Only needed when the netns outlives the resolver (containers that joined it
    with ``--network container:X`` keep it); a deleted netns takes its table."""
    await _netns.arun_in_netns(netns_path, _remove_here)

