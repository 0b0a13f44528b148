"""Routes through rtnetlink: a sandbox's default routes, its loopback, and the
host's own routes (which IPAM keeps new subnets off).

A mixin of ``Netlink`` (kernel/netlink.py): it uses that class's cached
per-netns handles (``_ipr``), its host handle and its index lookup.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError
from boxnet.kernel import netns as _netns
from boxnet.kernel.nlerror import nl_error as _err

MAIN_TABLE = 254


class RouteOps:
    """Route and loopback operations of ``Netlink``."""

    async def set_default_route(self, netns_path: str, gateway: str, ifname: str) -> None:
        """Replace the default route (v4 or v6, from ``gateway``) inside ``netns_path``."""
        ipr = await self._ipr(netns_path)
        gw = ipaddress.ip_address(gateway)
        family = socket.AF_INET6 if gw.version == 6 else socket.AF_INET
        try:
            # the index by if_nametoindex in the netns' worker thread (~0.1 ms) rather
            # than an RTM_GETLINK whose answer pyroute2 parses whole (~0.4 ms)
            idx = await _netns.arun_in_netns(netns_path, socket.if_nametoindex, ifname)
        except OSError as e:
            raise KernelError(f"no network interface {ifname} in netns {netns_path}: {e}") from e
        try:
            await ipr.route("replace", dst="default", family=family, gateway=str(gw), oif=idx)
        except NetlinkError as e:
            raise _err(f"cannot set default route via {gateway} in {netns_path}", e) from e

    async def del_default_route(self, netns_path: str, v6: bool) -> None:
        """Delete the v4 (or v6) default route inside ``netns_path``; idempotent."""
        ipr = await self._ipr(netns_path)
        family = socket.AF_INET6 if v6 else socket.AF_INET
        try:
            await ipr.route("del", dst="default", family=family)
        except NetlinkError as e:
            if e.code not in (errno.ESRCH, errno.ENOENT):
                raise _err(f"cannot delete default route in {netns_path}", e) from e

    async def link_lo_up(self, netns_path: str) -> None:
        """Bring up the loopback interface of ``netns_path``."""
        ipr = await self._ipr(netns_path)
        try:
            await ipr.link("set", index=1, state="up")
        except NetlinkError as e:
            raise _err(f"cannot bring lo up in {netns_path}", e) from e

    async def host_has_address(self, ip: str) -> bool:
        """Whether ``ip`` is configured on one of the host's interfaces (the
        daemon's netns), e.g. a SNAT source a network asks for."""
        addr = ipaddress.ip_address(ip)
        ipr = await self.handle()
        family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
        found = False
        async for a in await ipr.addr("dump", family=family):
            local = a.get("address")
            if local and ipaddress.ip_address(local) == addr:
                found = True   # the dump is read to its end either way
        return found

    async def host_routes(self, v4: bool = True, v6: bool = True,
                          ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Destinations of the host's main-table routes of the families asked (v4,
        v6), default routes left out.

        Used to keep new subnets off networks the host already reaches (as
        Docker does, a default route overlaps everything and is ignored).
        Why a raw dump: every `network create` asks, and pyroute2's parsing of
        each route message in Python cost more than the rest of the create
        (~2 ms with 50 bridges); only two fields of each message are needed.
        """
        loop = asyncio.get_running_loop()
        # made here, in the loop's thread: a socket belongs to the daemon's netns
        sock = socket.socket(socket.AF_NETLINK,
                             socket.SOCK_RAW | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK,
                             socket.NETLINK_ROUTE)
        try:
            out = []
            families = [f for f, want in ((socket.AF_INET, v4), (socket.AF_INET6, v6)) if want]
            for seq, family in enumerate(families, start=1):
                await loop.sock_sendall(sock, _dump_request(family, seq))
                while not await _read_dump(loop, sock, seq, out):
                    pass
            return out
        finally:
            sock.close()


RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
RTA_DST, RTA_TABLE = 1, 15
_HDR = struct.Struct("=IHHII")        # nlmsghdr
_RTM = struct.Struct("=BBBBBBBBI")    # rtmsg
_RTA = struct.Struct("=HH")           # rtattr


def _dump_request(family: int, seq: int) -> bytes:
    body = _RTM.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
    return _HDR.pack(_HDR.size + len(body), RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP,
                     seq, 0) + body


async def _read_dump(loop, sock: socket.socket, seq: int, out: list) -> bool:
    """Read one datagram of a route dump into out; True once the dump is done."""
    data = await loop.sock_recv(sock, 1 << 16)
    off = 0
    while off + _HDR.size <= len(data):
        length, kind, _flags, mseq, _pid = _HDR.unpack_from(data, off)
        if length < _HDR.size:
            break
        if mseq == seq:
            if kind == NLMSG_DONE:
                return True
            if kind == NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, off + _HDR.size)
                if code:
                    raise KernelError(f"cannot list the host's routes: {os.strerror(-code)}")
                return True
            if kind == RTM_NEWROUTE:
                _route_dst(data, off + _HDR.size, off + length, out)
        off += (length + 3) & ~3
    return False


def _route_dst(data: bytes, start: int, end: int, out: list) -> None:
    family, dst_len, _s, _t, table, *_ = _RTM.unpack_from(data, start)
    dst = None
    pos = start + _RTM.size
    while pos + _RTA.size <= end:
        alen, atype = _RTA.unpack_from(data, pos)
        if alen < _RTA.size:
            break
        if atype == RTA_DST:
            dst = data[pos + 4:pos + alen]
        elif atype == RTA_TABLE:
            (table,) = struct.unpack_from("=I", data, pos + 4)
        pos += (alen + 3) & ~3
    if table != MAIN_TABLE or dst_len == 0 or not dst:
        return
    addr = ipaddress.ip_address(dst)
    out.append(ipaddress.ip_network(f"{addr}/{dst_len}", strict=False))
