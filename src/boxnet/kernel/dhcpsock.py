"""The kernel side of the DHCP client: a UDP socket on port 68 made inside a
container's netns and tied to one interface, and the leased address on it.

One plain UDP socket does the whole conversation, with no packet socket:
bound to 0.0.0.0:68 with SO_BINDTODEVICE and SO_BROADCAST, the kernel sends
a DISCOVER to 255.255.255.255 from 0.0.0.0 on an interface without an
address, and delivers the server's broadcast OFFER/ACK to it (tried on this
kernel, 6.18, rp_filter 0 as in a new netns). Once the address is on the
interface, unicast renewals and releases leave from it the ordinary way.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from pyroute2.netlink.exceptions import NetlinkError

from ..errors import KernelError
from . import netns as _netns
from .nlerror import nl_error as _err
from .nsplumb import add_addr

CLIENT_PORT, SERVER_PORT = 68, 67


def _make_socket(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        s.bind(("0.0.0.0", CLIENT_PORT))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


async def open_client_socket(netns_path: str, ifname: str) -> socket.socket:
    """A non-blocking UDP socket on 0.0.0.0:68 of `ifname` in `netns_path` (it stays
    in that netns for its whole life); KernelError if it cannot be made."""
    try:
        return await _netns.arun_in_netns(netns_path, _make_socket, ifname)
    except OSError as e:
        raise KernelError(f"cannot open a DHCP client socket on {ifname} in {netns_path}: "
                          f"{e.strerror or e}") from e


async def _index(ipr, ifname: str) -> int:
    msgs = await ipr.link("get", ifname=ifname)
    if not msgs:
        raise KernelError(f"no network interface {ifname}")
    return msgs[0]["index"]


async def set_address(nl, netns_path: str, ifname: str, cidr: str, old: str = "") -> None:
    """Put the leased "ip/prefix" on `ifname` (idempotent) and remove `old` if it
    differs; `nl` is the daemon's Netlink."""
    ipr = await nl.handle(netns_path)
    try:
        index = await _index(ipr, ifname)
        await add_addr(ipr, index, cidr)
        if old and old != cidr:
            await _del(ipr, index, old)
            # The new address of the same subnet was a secondary of the old one; without
            # promote_secondaries (a new netns's default) the kernel deletes secondaries
            # with their primary: put it back (the interface's routes went too; the core
            # sets its default route again, Controller.readdress_endpoint).
            await add_addr(ipr, index, cidr)
    except NetlinkError as e:
        raise _err(f"cannot set the leased address {cidr} on {ifname}", e) from e


async def _del(ipr, index: int, cidr: str) -> None:
    a = ipaddress.ip_interface(cidr)
    try:
        await ipr.addr("del", index=index, family=socket.AF_INET, address=str(a.ip),
                       prefixlen=a.network.prefixlen)
    except NetlinkError as e:
        if e.code not in (errno.EADDRNOTAVAIL, errno.ENODEV):
            raise
