"""Two small parts of ``Netlink`` (kernel/netlink.py), kept apart to keep it short.

* ``LinkMarkOps``: the ownership marks on the links a daemon creates (what
  they mean: kernel/linkmark.py).
* ``RetireOps``: links made inert at once and deleted off the request path
  (why: kernel/linkgc.py), a disconnect's veth pair included; and what a
  restart needs of them: is a pair intact or half-retired, and waiting for
  the deletions of the start-up.

Both use Netlink's handles (``_host``, ``_ipr``, ``_index``, ``gc``, ``owner``).
"""

from __future__ import annotations

import asyncio
import errno
import logging

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError
from boxnet.kernel import linkmark, linkwatch
from boxnet.kernel.linkgc import garbage_name
from boxnet.kernel.nlerror import nl_error as _err

log = logging.getLogger(__name__)
IFF_UP = 0x1


class LinkMarkOps:
    """Ownership marks (IFLA_IFALIAS) of ``Netlink``."""

    def mark(self, kind: str) -> str:
        """The ownership alias this daemon puts on a host link of ``kind`` it creates."""
        return linkmark.mark(self.owner, kind)

    def is_mine(self, alias: str | None, kind: str | None = None) -> bool:
        """Whether a link's alias is this daemon's mark (of ``kind``, or of any kind)."""
        return linkmark.is_mine(alias, self.owner, kind)

    async def link_alias(self, name: str, netns: str | None = None) -> str | None:
        """The ifalias of link ``name`` ("" if none), or None if there is no such link."""
        ipr = await self._ipr(netns)
        try:
            msgs = await ipr.link("get", ifname=name)
        except NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT):
                return None
            raise _err(f"cannot look up interface {name}", e) from e
        return (msgs[0].get("ifalias") or "") if msgs else None

    async def set_alias(self, name: str, alias: str) -> None:
        """Put ``alias`` on host link ``name`` (boxnet's ownership mark)."""
        try:
            await self._host.link("set", ifname=name, ifalias=alias)
        except NetlinkError as e:
            raise _err(f"cannot mark interface {name}", e) from e


class RetireOps:
    """Inert-now, deleted-later links of ``Netlink``."""

    async def set_link_down(self, name: str) -> bool:
        """Bring host link ``name`` down (~0.3 ms); False if there is no such link."""
        self.gc.touch()
        try:
            await self._host.link("set", ifname=name, state="down")
        except NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT):
                return False
            raise _err(f"cannot bring {name} down", e) from e
        return True

    async def release_veth(self, host_ifname: str) -> None:
        """The host end of a pair whose peer's netns is about to be released.

        Down at once: the peer loses carrier, so the dying netns can no longer
        answer for its addresses on the bridge (they may be handed out again
        right away).  The pair then dies with that netns, in the kernel's own
        cleanup work; ``gc`` deletes it should the netns outlive its pin.
        """
        if await self.set_link_down(host_ifname):
            self.gc.reap_when_gone([host_ifname], self._host_link_exists)

    async def veth_pair_intact(self, host_ifname: str, netns: str, ifname: str) -> bool:
        """Whether host link ``host_ifname`` and ``ifname`` in ``netns`` are one veth
        pair, both ends up: an endpoint as its connect left it.

        Why more than "the host end exists": a daemon killed during
        ``retire_veth`` (its two ends are retired concurrently, each in a few
        requests) leaves a pair with one end down or renamed, or the
        container's end down without its addresses, while the other end still
        looks plumbed.  Each end is taken down first, so "both up, each the
        other's peer, under their names" is false for any such pair.
        """
        try:
            host = await self._host.link("get", ifname=host_ifname)
        except NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT):
                return False
            raise _err(f"cannot look up interface {host_ifname}", e) from e
        try:
            ipr = await self._ipr(netns)
        except KernelError:
            return False   # no such netns: nothing of the endpoint is left in it
        try:
            inner = await ipr.link("get", ifname=ifname)
        except NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT):
                return False
            raise _err(f"cannot look up interface {ifname} in {netns}", e) from e
        if not host or not inner:
            return False
        h, i = host[0], inner[0]
        return (h.get(("linkinfo", "kind")) == "veth" and bool(h["flags"] & IFF_UP)
                and bool(i["flags"] & IFF_UP)
                and h.get("link") == i["index"] and i.get("link") == h["index"])

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until the background deletions asked for so far are done (at start-up).

        Start-up reconciliation retires what it no longer wants like any
        removal does; waiting here means that, once the daemon serves, a
        container shows no retired interface and the host no ``bxgc-`` link
        of it (start-up is not a request: the wait costs no request any time).
        """
        left = await self.gc.settle(timeout)
        if left:
            log.warning("%d background link deletions still running %.0f s after the "
                        "start-up's reconciliation", left, timeout)

    async def retire_veth(self, host_ifname: str, netns: str, ifname: str,
                          addrs: list[str] = ()) -> None:
        """A disconnect's veth pair: gone from the container (and the host) when
        this returns, with the kernel's slow part of the deletion off the request.

        Why: deleting a pair costs 15-20 ms, nearly all of it in
        ``netdev_run_todo`` waiting for RCU grace periods *after* both ends were
        unlisted (moving the container end out of its netns costs as much).  So
        the deletion is sent from a worker thread at once (kernel/linkgc.py) and
        this waits only until the host end is unlisted, which takes a few ms
        (the kernel's RTM_DELLINK broadcast says when, kernel/linkwatch.py):
        both ends of a veth go in the same unregister batch, so the container
        no longer shows ``ifname`` either, and ``ifname`` is free for the next
        connect.  Nothing renamed or half-retired is ever visible, and a
        SIGKILL cannot cut the deletion short (the kernel finishes a request it
        was sent).  Idempotent: a missing pair is success.  ``addrs`` is unused
        (kept for the drivers' call).
        """
        index = await self._index(self._host, host_ifname)
        if index is None:
            return   # the host end is gone, and with it its peer (never delete by name
                     # in the container: the name may be someone else's link now)
        watch = linkwatch.open_watch()   # before the deletion: its broadcast is not missed
        try:
            task = self.gc.delete_now(host_ifname)
            if await linkwatch.wait_unlisted(watch, index, task):
                return
        finally:
            watch.close()
        delay = 0.0005
        while not task.done() and await self._index(self._host, host_ifname) is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.004)

    async def _host_link_exists(self, name: str) -> bool:
        # the reaper's polls are not request work: no gc.touch() here
        return await self._index(self._host, name) is not None

    async def retire_link(self, name: str) -> None:
        """Delete host link ``name`` with the wait off the request path; idempotent.

        Down now (its routes and local addresses leave the tables), renamed
        to a ``bxgc-`` garbage name (its name is free for a new link at once;
        a rename needs the link down), and deleted in the background.
        """
        idx = await self._index(self._host, name)
        if idx is None or not await self.set_link_down(name):
            return
        tmp = garbage_name()
        try:
            await self._host.link("set", index=idx, ifname=tmp)
        except NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT):
                return
            await self.delete_link(name)   # cannot rename: delete it now, slowly
            return
        self.gc.delete_later(tmp)
