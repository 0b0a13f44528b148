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
  from 127.0.0.11:53; and an ICMP port unreachable quoting the resolver's
  UDP port (nothing listens: the daemon is restarting) quotes 53 instead, so
  the client is refused at once rather than left to time out (see _table).

Why rewriting the ports rather than Docker's DNAT: a nat chain makes the
kernel track every connection of the netns (conntrack is switched on per
netns as soon as a ruleset needs it), which costs each packet of the
container and one conntrack entry per query (a client takes a new source
port per lookup). Plain payload rewrites need no conntrack: the container's
own traffic is untouched, nothing can go stale when the rules change (no
conntrack entry keeps an old mapping), and a container that runs its own
conntrack or nat rules sees consistent tuples (the query already carries the
resolver's port when conntrack first sees it, the reply still does). Both rewrites keep the L4 checksum right
(nftables updates it); on loopback every packet goes through both hooks.

Everything happens in one hop of the netns worker thread
(kernel.netns.arun_in_netns): the sockets are made there (a socket belongs to
the netns it was made in) and the libnftables context too (its netlink socket
is that thread's netns's), one atomic transaction per sandbox. A new netns
gets the table with a ``create`` (no deletion: see create_script for why
that matters); a netns that has it already (the daemon restarted, its
containers kept running) keeps it, and the resolver binds its ports again;
only if one of them is taken now is the table replaced, in one transaction.

If nftables cannot be used (no libnftables, a kernel without nf_tables), the
sockets are bound at port 53 as before, and the caller is told so: the
resolver works and port 53 is not free for the container's programs.
"""

from __future__ import annotations

import logging
import re
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


LAYOUT = "boxnet-dns/1"   # the table's comment starts with it; change it when the rules change


def _table(ip: str, udp_port: int, tcp_port: int) -> str:
    """The table's body. Its comment records the layout and the ports, which is how
    a later daemon knows the table is ours and where its rules point (nftables 1.0.6
    does not print table comments in JSON, so it is read from the text listing)."""
    ip_hex = "0x" + socket.inet_aton(ip).hex()
    return (
        f"table ip {TABLE} {{\n"
        f'  comment "{LAYOUT} udp={udp_port} tcp={tcp_port}"\n'
        "  chain output {\n"
        "    type filter hook output priority raw; policy accept;\n"
        f"    ip daddr {ip} udp dport {DNS_PORT} udp dport set {udp_port}\n"
        f"    ip daddr {ip} tcp dport {DNS_PORT} tcp dport set {tcp_port}\n"
        "  }\n"
        "  chain postrouting {\n"
        "    type filter hook postrouting priority 300; policy accept;\n"
        f"    ip saddr {ip} udp sport {udp_port} udp sport set {DNS_PORT}\n"
        f"    ip saddr {ip} tcp sport {tcp_port} tcp sport set {DNS_PORT}\n"
        # While nothing listens on udp_port (the daemon is down), the kernel answers
        # a query with ICMP port unreachable quoting the rewritten port, which the
        # client's socket (connected to port 53) would not recognise: it would time
        # out instead of being refused. So the quoted port is set back to 53 (at
        # ICMP offset 30: quoted IPv4 header without options, @th,64,8 0x45, proto
        # UDP, to 127.0.0.11), and the ICMP checksum is kept right without arithmetic
        # by moving the same difference into the 16 bits that port unreachable leaves
        # unused (the next-hop MTU of code 4), which were 0: the one's complement sum
        # is unchanged. TCP needs nothing: the RST comes from tcp_port and is
        # rewritten by the rule above.
        "    icmp type destination-unreachable icmp code port-unreachable"
        f" @th,64,8 0x45 @th,136,8 17 @th,192,32 {ip_hex} @th,240,16 {udp_port}"
        f" @th,48,16 0 @th,240,16 set {DNS_PORT} @th,48,16 set {udp_port - DNS_PORT}\n"
        "  }\n"
        "}\n")


def create_script(ip: str, udp_port: int, tcp_port: int) -> str:
    """The nft script that makes the ``ip boxnet_dns`` table: one transaction that
    fails (EEXIST, nothing changed) when the netns has the table already.

    Nothing is deleted: a transaction that deletes leaves the kernel destroy work
    (an RCU grace period, ~10 ms on a loaded host) that the next close of an
    nftables netlink socket waits for, and that close is in the start path."""
    return (f'create table ip {TABLE} {{ comment "{LAYOUT} udp={udp_port} tcp={tcp_port}"; }}\n'
            + _table(ip, udp_port, tcp_port))


def replace_script(ip: str, udp_port: int, tcp_port: int) -> str:
    """The nft script that replaces whatever ``ip boxnet_dns`` table is there (or none),
    atomically: ``table`` then ``delete table`` then the new one, one transaction."""
    return (f"table ip {TABLE} {{}}\ndelete table ip {TABLE}\n"
            + _table(ip, udp_port, tcp_port))


_COMMENT = re.compile(r'^\s*comment "' + re.escape(LAYOUT) + r' udp=(\d+) tcp=(\d+)"\s*$', re.M)


def table_ports(listing: str) -> tuple[int, int] | None:
    """(udp, tcp) ports recorded by a ``list table ip boxnet_dns`` text listing made
    with this layout; None for any other table (an older layout, not ours)."""
    m = _COMMENT.search(listing)
    if m is None:
        return None
    up, tp = int(m.group(1)), int(m.group(2))
    if not (DNS_PORT < up < 65536 and DNS_PORT < tp < 65536):
        return None
    return up, tp


def _bind(ip: str, udp_port: int, tcp_port: int) -> tuple[socket.socket, socket.socket]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((ip, udp_port))
        udp.setblocking(False)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((ip, tcp_port))
        tcp.listen(64)
        tcp.setblocking(False)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


def _redirect(nft, ip: str, udp, tcp) -> tuple:
    """Apply the redirect to the sockets' ports; returns the sockets to serve.

    A netns that has our table already (a previous daemon's, restored
    containers) keeps it when its ports can be bound again: nothing changes
    in the kernel. Otherwise it is replaced in one transaction."""
    up, tp = udp.getsockname()[1], tcp.getsockname()[1]
    try:
        nft.run(create_script(ip, up, tp))
        return udp, tcp
    except KernelError:
        pass   # a table is there already: the cases below
    try:
        old = table_ports(nft.run(f"list table ip {TABLE}"))
    except KernelError:
        old = None
    if old is not None:
        try:
            again = _bind(ip, *old)
        except OSError:
            pass   # its ports are taken now: new rules for the new ports
        else:
            udp.close()
            tcp.close()
            return again
    nft.run(replace_script(ip, up, tp))
    return udp, tcp


def _open_here(ip: str) -> ResolverSockets:
    """Bind at kernel-picked ports and apply the redirect; runs inside the netns."""
    from .nft import Nft   # loads libnftables on first use only

    udp, tcp = _bind(ip, 0, 0)
    try:
        with Nft() as nft:   # made here: its netlink socket is this netns's
            udp, tcp = _redirect(nft, ip, udp, tcp)
    except KernelError as e:
        udp.close()
        tcp.close()
        log.warning("dns: cannot redirect %s:53 in the container's netns (%s); "
                    "binding port 53 directly, which the container's programs "
                    "then cannot use", ip, e)
        udp, tcp = _bind(ip, DNS_PORT, DNS_PORT)
        return ResolverSockets(udp, tcp, DNS_PORT, DNS_PORT, False)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return ResolverSockets(udp, tcp, udp.getsockname()[1], tcp.getsockname()[1], True)


async def aopen(netns_path: str, ip: str) -> ResolverSockets:
    """The resolver's sockets in the netns at ``netns_path``, with 127.0.0.11:53
    redirected to them (sockets and table in one hop, one transaction; a table
    a previous daemon left is kept with its ports, or replaced)."""
    return await _netns.arun_in_netns(netns_path, _open_here, ip)


def _remove_here() -> None:
    from .nft import Nft

    with Nft() as nft:
        nft.run(f"table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")


async def aremove(netns_path: str) -> None:
    """Delete the redirect table in the netns (absent: nothing to do).

    Only needed when the netns outlives the resolver (containers that joined it
    with ``--network container:X`` keep it); a deleted netns takes its table."""
    await _netns.arun_in_netns(netns_path, _remove_here)

