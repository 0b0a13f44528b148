"""One endpoint link plumbed into a container netns: the set-up that the veth
attach (kernel/netlink.py) and the macvlan/ipvlan attach (kernel/links.py) share.

Both create their link directly inside the target netns under its final name
(IFLA_NET_NS_FD on RTM_NEWLINK): nothing is renamed or moved afterwards, and
the container's name (eth0) never exists in the host, so it can never clash
with a host interface. Then, inside the netns, the addresses are added (IPv6
without DAD, usable at once), the link and lo are brought up, and whatever
else the caller needs (a veth's host-end settings) is sent along: every
request goes out together and one wait collects every ack. On failure the
caller's undo removes the link, and one error names what failed.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import BoxnetError, KernelError
from boxnet.kernel.nlerror import nl_error as _err
from boxnet.kernel.nlbatch import all_or_raise

log = logging.getLogger(__name__)

IFA_F_NODAD = 0x02
LO_INDEX = 1   # lo is always ifindex 1 in a netns


def parse_addr(addr: str) -> tuple[int, str, int]:
    """(family, address, prefix length) of "ip/prefix"."""
    iface = ipaddress.ip_interface(addr)
    family = socket.AF_INET6 if iface.version == 6 else socket.AF_INET
    return family, str(iface.ip), iface.network.prefixlen


async def add_addr(ipr, index: int, addr: str) -> None:
    """Add "ip/prefix" to a link (idempotent).  IPv6 without DAD, so the address
    is usable at once: the link only holds addresses boxnet allocated."""
    family, ip, plen = parse_addr(addr)
    kw = {"flags": IFA_F_NODAD} if family == socket.AF_INET6 else {}
    try:
        await ipr.addr("add", index=index, family=family, address=ip, prefixlen=plen, **kw)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise


def open_netns(netns_path: str) -> int:
    """An fd on the pinned netns (for IFLA_NET_NS_FD); the caller closes it."""
    try:
        return os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise KernelError(f"cannot open network namespace {netns_path}: {e}") from e


async def plumb_into_netns(nl, netns_path: str, ifname: str,
                           create: Callable[[int], Awaitable[int | None]],
                           addrs: list[str] | tuple = (), *,
                           undo: Callable[[], Awaitable[None]],
                           extra: Callable[[int], list[Awaitable]] | None = None,
                           ) -> tuple[int, str | None]:
    """Create link ``ifname`` inside ``netns_path`` and set it up there.

    ``create(fd)`` sends the RTM_NEWLINK with ``fd`` (the netns) in the right
    place and returns the new link's ifindex in the netns when the kernel told
    it (None: it is looked up by name); it raises its own user-facing error,
    with nothing to undo.  Then ``addrs`` are added, ``ifname`` and lo brought
    up, and ``extra(index)``'s awaitables sent with them.  On any later
    failure ``undo()`` removes the link.  Returns (ifindex in the netns, the
    link's MAC if it was looked up, else None).  ``nl`` is the daemon's Netlink.
    """
    fd = open_netns(netns_path)
    # The netns handle (a netlink socket opened by a worker thread setns'd there,
    # ~0.5 ms for a netns not seen before, as every CNI ADD's) is opened while
    # this thread is in the kernel creating the link (rtnetlink does the work in
    # sendmsg): the sleep(0) lets the task hand its job to that thread first.
    handle = asyncio.ensure_future(nl.handle(netns_path))
    try:
        await asyncio.sleep(0)
        index = await create(fd)
    except BaseException:
        await asyncio.gather(handle, return_exceptions=True)   # no orphan task
        raise
    finally:
        os.close(fd)
    mac = None
    try:
        ipr = await handle
        if not index:
            msgs = await ipr.link("get", ifname=ifname)
            if not msgs:
                raise KernelError(f"no network interface {ifname} in netns {netns_path}")
            index, mac = msgs[0]["index"], msgs[0].get("address")
        jobs = [add_addr(ipr, index, a) for a in addrs]
        jobs.append(ipr.link("set", index=index, state="up"))
        jobs.append(ipr.link("set", index=LO_INDEX, state="up"))
        if extra is not None:
            jobs.extend(extra(index))
        # Independent requests: sent together, then every ack waited for.
        await all_or_raise(*jobs)
        return index, mac
    except BaseException as e:
        try:
            await undo()
        except (BoxnetError, NetlinkError, OSError) as ue:
            log.warning("rollback of %s in %s failed: %s", ifname, netns_path, ue)
        if isinstance(e, BoxnetError):
            raise
        if isinstance(e, Exception):
            raise _err(f"cannot configure {ifname} in {netns_path}", e) from e
        raise
