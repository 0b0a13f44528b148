"""Routes through rtnetlink: a sandbox's default routes, its loopback, and the
host's own routes (which IPAM keeps new subnets off).

A mixin of ``Netlink`` (kernel/netlink.py): it uses that class's cached
per-netns handles (``_ipr``), its host handle and its index lookup.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from pyroute2.netlink.exceptions import NetlinkError

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
            idx = await self._require_index(ipr, ifname, netns_path)
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

    async def host_routes(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Destinations of the host's main-table routes, v4 and v6, default routes left out.

        Used to keep new subnets off networks the host already reaches (as
        Docker does, a default route overlaps everything and is ignored).
        """
        out = []
        for family in (socket.AF_INET, socket.AF_INET6):
            async for r in await self._host.route("dump", family=family, table=MAIN_TABLE):
                plen = r["dst_len"]
                dst = r.get("dst")
                if plen == 0 or not dst:
                    continue
                out.append(ipaddress.ip_network(f"{dst}/{plen}", strict=False))
        return out
