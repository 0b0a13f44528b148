"""Links, addresses and routes through rtnetlink (pyroute2 ``AsyncIPRoute``).

One ``Netlink`` object lives in the daemon's event loop. "The host" is the
netns of the thread that called ``Netlink.open()`` (the daemon may itself run
inside any netns). Container netns are reached through their pinned paths.

How a netns is reached, and why: pyroute2 0.9.7's ``AsyncIPRoute(netns=...)``
forks a child process that calls setns and passes the socket back over a
unix socket: ~5.7 ms per handle measured here. Instead we open the AF_NETLINK
socket in our own worker thread that setns'd into the pinned path
(``netns.arun_in_netns``) and hand it to ``AsyncIPRoute(use_socket=...)``:
~0.5 ms per handle including the first request. A socket belongs to the
netns it was created in for its whole life, whatever thread uses it later.
Handles are cached per netns path; a socket pins its netns alive, so callers
call ``forget_netns`` when they delete a netns (the cache is also bounded,
evicted handles are closed). Sockets are never bound to multicast groups,
so no event floods pile up in them.

pyroute2 messages never leave this module: callers get plain values or
``LinkInfo``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from collections import OrderedDict

import msgspec
from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError
from boxnet.kernel import netns as _netns
from boxnet.kernel import nsplumb
from boxnet.kernel.linkgc import LinkGc
from boxnet.kernel.linkops import LinkMarkOps, RetireOps
from boxnet.kernel.nlerror import nl_error as _err
from boxnet.kernel.nlqueue import drop_late_replies
from boxnet.kernel.nsplumb import add_addr, parse_addr as _parse_addr
from boxnet.kernel.routes import RouteOps
from boxnet.kernel.ifindex import host_index
from boxnet.kernel.nlbatch import all_or_raise
from boxnet.kernel.spareveth import SpareVethOps

log = logging.getLogger(__name__)
IFF_UP = 0x1
NETLINK_EXT_ACK = 11
SOL_NETLINK = 270
MAX_CACHED_NETNS = 128


class LinkInfo(msgspec.Struct, frozen=True):
    """One network interface as the kernel reports it."""

    name: str
    index: int
    kind: str | None
    master: str | None
    mac: str | None
    mtu: int
    operstate: str
    alias: str = ""       # IFLA_IFALIAS: boxnet's ownership mark (kernel/linkmark.py)
    peer: int = 0         # IFLA_LINK: a veth's peer ifindex (in the peer's netns)


def _random_mac() -> str:
    """A random unicast, locally administered MAC, as the kernel's eth_random_addr.

    Choosing it here instead of letting the kernel pick saves a netlink round
    trip to read it back.
    """
    b = bytearray(os.urandom(6))
    b[0] = (b[0] & 0xFE) | 0x02
    return ":".join(f"{x:02x}" for x in b)


def _bridge_index(name: str) -> int:
    """The ifindex of ``name`` in the daemon's netns (the caller is the event loop's
    thread, which lives there, as Netlink.open's host handle does): if_nametoindex's
    ioctl, ~0.01 ms, where an RTM_GETLINK costs ~0.5 ms, most of it pyroute2 parsing
    the whole link message in Python.  KernelError if there is no such interface."""
    try:
        return socket.if_nametoindex(name)
    except OSError as e:
        raise KernelError(f"cannot find bridge {name}: no network interface {name}") from e


def _open_nl_socket() -> socket.socket:
    """Run in a worker thread setns'd into the target netns."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    return s


def _no_dad_on_bridge(name: str) -> None:
    """accept_dad=0 on a new bridge, before it is up (no-op without IPv6).

    Why: for a *forwarded* packet (outside -> published port -> container)
    the kernel sources its Neighbor Solicitation from the bridge's
    link-local address and sends none at all while that address is
    tentative (ndisc_send_ns: ipv6_get_lladdr skips tentative ones).  DAD
    of a bridge's link-local only starts when its first port comes up, so
    routed IPv6 to the network's first container was black-holed for the
    1-2 s of DAD (neighbour stuck INCOMPLETE, SYNs lost).  The link-local
    comes from the bridge's random MAC on a link holding only our own
    containers, so DAD protects nothing here (the gateway addresses are
    already added with IFA_F_NODAD).  It must be set before the link is up:
    a DAD already pending is not cancelled.  The kernel skips DAD only if
    net.ipv6.conf.all.accept_dad is 0 too (the default; the host's to set).
    """
    try:
        with open(f"/proc/sys/net/ipv6/conf/{name}/accept_dad", "w") as f:
            f.write("0")
    except FileNotFoundError:
        pass  # IPv6 disabled on this host or this link


class Netlink(RouteOps, LinkMarkOps, RetireOps, SpareVethOps):
    """Async rtnetlink operations for the daemon's netns and pinned container netns."""

    def __init__(self, host: AsyncIPRoute, owner: str = ""):
        self._host = host
        self._ns: OrderedDict[str, AsyncIPRoute] = OrderedDict()
        self._opening: dict[str, asyncio.Future] = {}   # netns path -> its open in flight
        self.gc = LinkGc()   # deletions finished in the background (see linkgc.py)
        self.owner = owner   # this daemon's owner id: the mark on links it creates

    @classmethod
    async def open(cls, owner: str = "") -> "Netlink":
        """Open a handle on the calling thread's netns (call from the event loop);
        ``owner`` (kernel/linkmark.py owner_id) marks the links it creates."""
        # nlm_echo: link creation answers with the new link, whose IFLA_LINK
        # is the veth peer's ifindex in its netns (saves a lookup there).
        host = AsyncIPRoute(nlm_echo=True, ext_ack=True)
        await host.setup_endpoint()
        drop_late_replies(host)   # pyroute2 would keep every late ACK (kernel/nlqueue.py)
        return cls(host, owner)

    async def close(self) -> None:
        """Finish pending background deletions, close every netlink socket held."""
        await self.gc.drain()
        for path in list(self._ns):
            await self.forget_netns(path)
        self._host.close()

    async def forget_netns(self, path: str) -> None:
        """Close the cached handle on netns ``path`` (call when deleting that netns)."""
        opening = self._opening.get(path)
        if opening is not None:   # an open in flight would cache the handle after us
            await asyncio.wait([opening])
        ipr = self._ns.pop(path, None)
        if ipr is not None:
            ipr.close()

    async def handle(self, netns: str | None = None) -> AsyncIPRoute:
        """The cached pyroute2 handle on ``netns`` (or the host), for other kernel/ modules."""
        return await self._ipr(netns)

    async def _ipr(self, netns: str | None) -> AsyncIPRoute:
        self.gc.touch()   # netlink work for a request: background deletions wait
        if netns is None:
            return self._host
        ipr = self._ns.get(netns)
        if ipr is not None:
            self._ns.move_to_end(netns)
            return ipr
        # One open per netns at a time: a handle is published only once its
        # endpoint is set up.  pyroute2's setup_endpoint is not re-entrant: two
        # tasks awaiting it on one socket each make an asyncio transport, the
        # one dropped is closed by its __del__ at the next GC, and that closes
        # the shared socket (EBADF, or requests that never get an answer).
        opening = self._opening.get(netns)
        if opening is None:
            opening = asyncio.ensure_future(self._open_netns(netns))
            self._opening[netns] = opening
            opening.add_done_callback(lambda f, p=netns: self._opened(p, f))
        return await asyncio.shield(opening)

    def _opened(self, netns: str, fut: asyncio.Future) -> None:
        self._opening.pop(netns, None)
        if not fut.cancelled():
            fut.exception()   # retrieved here too: every waiter may have been cancelled

    async def _open_netns(self, netns: str) -> AsyncIPRoute:
        try:
            sock = await _netns.arun_in_netns(netns, _open_nl_socket)
        except OSError as e:
            raise KernelError(f"cannot enter network namespace {netns}: {e}") from e
        ipr = AsyncIPRoute(use_socket=sock, ext_ack=True)
        try:
            await ipr.setup_endpoint()
        except BaseException:
            ipr.close()
            raise
        drop_late_replies(ipr)
        self._ns[netns] = ipr
        while len(self._ns) > MAX_CACHED_NETNS:
            _, old = self._ns.popitem(last=False)
            old.close()
        return ipr

    async def _index(self, ipr: AsyncIPRoute, name: str) -> int | None:
        if ipr is self._host:   # the loop thread's netns: one ioctl (kernel/ifindex.py)
            return host_index(name)
        try:
            msgs = await ipr.link("get", ifname=name)
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return None
            raise
        return msgs[0]["index"] if msgs else None

    async def _require_index(self, ipr: AsyncIPRoute, name: str, netns: str | None) -> int:
        idx = await self._index(ipr, name)
        if idx is None:
            where = f" in netns {netns}" if netns else ""
            raise KernelError(f"no network interface {name}{where}")
        return idx

    async def _add_addr(self, ipr: AsyncIPRoute, index: int, addr: str, existing=()) -> None:
        if _parse_addr(addr)[1:] not in existing:
            await add_addr(ipr, index, addr)

    async def ensure_bridge(self, name: str, mtu: int | None = None, addrs: list[str] = (),
                            mac: str | None = None, alias: str | None = None) -> bool:
        """Create bridge ``name`` if missing, add missing addrs (v6 without DAD), bring it up.

        A bridge it creates gets ``alias`` (the ownership mark); True if it created it."""
        self.gc.touch()
        try:
            if await self._new_bridge(name, mtu, addrs, mac, alias):
                return True
            try:
                found = await self._host.link("get", ifname=name)
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise
                found = []
            if found and found[0].get(("linkinfo", "kind")) != "bridge":
                raise KernelError(f"interface {name} exists and is not a bridge")
            if not found:
                raise KernelError(f"bridge {name} vanished while it was being set up")
            idx = await self._require_index(self._host, name, None)
            if mtu and found[0].get("mtu") != mtu:
                await self._host.link("set", index=idx, mtu=mtu)
            have = {(a.get("address"), a["prefixlen"])
                    async for a in await self._host.addr("dump", index=idx)}
            for addr in addrs:
                await self._add_addr(self._host, idx, addr, have)
            await self._host.link("set", index=idx, state="up")
        except KernelError:
            raise
        except Exception as e:
            raise _err(f"cannot set up bridge {name}", e) from e
        return False

    async def _new_bridge(self, name: str, mtu: int | None, addrs, mac: str | None,
                          alias: str | None) -> bool:
        """Create bridge ``name`` and set it up in one round of requests; False if a
        link of that name exists (the caller then adopts or refuses it).

        Why not look first: a `network create` is mostly netlink round trips, and
        for a new bridge the lookup, the address dump and the index lookup answer
        nothing (the echoed creation gives the index).  The alias, addresses and
        up go out together: the kernel applies them in the order sent."""
        kw = {"mtu": mtu} if mtu else {}
        if mac:
            kw["address"] = mac
        try:
            msgs = await self._host.link("add", ifname=name, kind="bridge", **kw)
        except NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise
        _no_dad_on_bridge(name)   # before it is up
        new = next((m for m in msgs or () if m.get("ifname") == name), None)
        idx = new["index"] if new is not None else \
            await self._require_index(self._host, name, None)
        jobs = [add_addr(self._host, idx, a) for a in addrs]
        if alias:
            jobs.append(self._host.link("set", index=idx, ifalias=alias))
        jobs.append(self._host.link("set", index=idx, state="up"))
        failed = [r for r in await asyncio.gather(*jobs, return_exceptions=True)
                  if isinstance(r, BaseException)]
        if failed:   # no half-made bridge left behind
            try:
                await self._host.link("del", index=idx)
            except NetlinkError as e:
                log.warning("rollback of bridge %s: %s", name, e)
            raise failed[0]
        return True

    async def delete_link(self, name: str, netns: str | None = None) -> None:
        """Delete interface ``name`` (in ``netns`` or the host); no error if absent."""
        ipr = await self._ipr(netns)
        try:
            await ipr.link("del", ifname=name)
        except NetlinkError as e:
            if e.code not in (errno.ENODEV, errno.ENOENT):
                raise _err(f"cannot delete interface {name}", e) from e

    async def link_exists(self, name: str, netns: str | None = None) -> bool:
        """True if interface ``name`` exists in ``netns`` (or the host)."""
        return await self._index(await self._ipr(netns), name) is not None

    async def list_links(self, netns: str | None = None) -> list[LinkInfo]:
        """Every interface of ``netns`` (or the host), in ifindex order."""
        ipr = await self._ipr(netns)
        msgs = [m async for m in await ipr.link("dump")]
        names = {m["index"]: m.get("ifname") for m in msgs}
        out = []
        for m in msgs:
            master = m.get("master")
            out.append(LinkInfo(
                name=m.get("ifname"), index=m["index"], kind=m.get(("linkinfo", "kind")),
                master=names.get(master) if master else None, mac=m.get("address"),
                mtu=m.get("mtu") or 0, operstate=m.get("operstate") or "UNKNOWN",
                alias=m.get("ifalias") or "", peer=m.get("link") or 0))
        return sorted(out, key=lambda li: li.index)

    async def attach_veth(self, host_ifname: str, bridge: str | None, netns_path: str,
                          ifname: str, mac: str | None, addrs: list[str],
                          mtu: int | None, port_setup=None) -> str:
        """Plumb one endpoint: a veth pair from the host (port of ``bridge``) into ``netns_path``.

        The peer is created directly inside the target netns under its final
        name, with its MAC and MTU, and set up there (kernel/nsplumb.py).
        ``port_setup(host_handle, host_index, master_index)``, if given, is a
        coroutine function for the host end's bridge-port settings; it runs
        together with the netns work, with the indices already known (no
        lookups).  The host end gets this daemon's ``veth`` mark (sent with
        the rest).  Returns the MAC of ``ifname``. On failure the pair is
        deleted and KernelError is raised.
        """
        mac = mac or _random_mac()
        host = self._host
        self.gc.touch()
        master = _bridge_index(bridge) if bridge else None
        peer = {"ifname": ifname, "address": mac}
        kw = {}
        if mtu:
            peer["mtu"] = kw["mtu"] = mtu
        if master is not None:
            kw["master"] = master
        host_index = None

        async def create(fd: int) -> int | None:
            nonlocal host_index
            try:
                # One message: create the pair, enslave and bring up the host end.
                msgs = await host.link("add", ifname=host_ifname, kind="veth",
                                       peer={**peer, "net_ns_fd": fd}, state="up", **kw)
            except NetlinkError as e:
                what = f"cannot create veth pair {host_ifname}/{ifname}"
                if e.code == errno.EEXIST:
                    what += " (an interface of that name exists on the host or in the container)"
                raise _err(what, e) from e
            # The echoed new link's IFLA_LINK is the peer's ifindex in its netns.
            new = next((m for m in msgs if m.get("ifname") == host_ifname), None)
            if new is None:
                return None
            host_index = new["index"]
            return new.get("link")

        async def host_end() -> None:
            # the host end's index, looked up only if the kernel's echo lacked it
            idx = host_index or await self._require_index(host, host_ifname, None)
            jobs = [host.link("set", index=idx, ifalias=self.mark("veth"))]
            if port_setup is not None:
                jobs.append(port_setup(host, idx, master))
            await all_or_raise(*jobs)

        async def undo() -> None:
            await self.delete_link(host_ifname)   # the peer goes with it

        await nsplumb.plumb_into_netns(self, netns_path, ifname, create, addrs, undo=undo,
                                       extra=lambda _index: [host_end()])
        return mac

    async def make_handoff_veth(self, host_ifname: str, bridge: str, peer_name: str,
                                mac: str | None, mtu: int | None, port_setup=None) -> str:
        """A veth pair whose both ends stay in the daemon's netns: the host end up on
        ``bridge`` (with this daemon's mark and ``port_setup`` as attach_veth), the
        peer ``peer_name`` left down and bare for another engine to move into its
        sandbox (the Docker plugin's Join).  Why down: a down, bare peer is what
        Docker's own bridge driver hands over; an up one would first get IPv6
        link-local state in this netns that the move then tears down again.
        Returns the peer's MAC; on failure the pair is deleted and KernelError raised."""
        mac = mac or _random_mac()
        host = self._host
        self.gc.touch()
        try:
            master = await self._require_index(host, bridge, None)
        except NetlinkError as e:
            raise _err(f"cannot find bridge {bridge}", e) from e
        peer = {"ifname": peer_name, "address": mac}
        kw = {"master": master}
        if mtu:
            peer["mtu"] = kw["mtu"] = mtu
        try:
            msgs = await host.link("add", ifname=host_ifname, kind="veth", peer=peer,
                                   state="up", **kw)
        except NetlinkError as e:
            what = f"cannot create veth pair {host_ifname}/{peer_name}"
            if e.code == errno.EEXIST:
                what += " (an interface of that name exists)"
            raise _err(what, e) from e
        try:
            new = next((m for m in msgs if m.get("ifname") == host_ifname), None)
            idx = new["index"] if new else await self._require_index(host, host_ifname, None)
            jobs = [host.link("set", index=idx, ifalias=self.mark("veth"))]
            if port_setup is not None:
                jobs.append(port_setup(host, idx, master))
            await all_or_raise(*jobs)
        except BaseException as e:
            await self.delete_link(host_ifname)
            if isinstance(e, NetlinkError):
                raise _err(f"cannot set up {host_ifname}", e) from e
            raise
        return mac

    async def detach_veth(self, host_ifname: str) -> None:
        """Delete the host end of a veth pair (the kernel deletes the peer); idempotent."""
        await self.delete_link(host_ifname)
