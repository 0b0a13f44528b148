"""Two small parts of ``Netlink`` (kernel/netlink.py), kept apart to keep it short.

* ``LinkMarkOps``: the ownership marks on the links a daemon creates (what
  they mean: kernel/linkmark.py).
* ``RetireOps``: links made inert at once and deleted off the request path
  (why: kernel/linkgc.py).

Both use Netlink's handles (``_host``, ``_ipr``, ``_index``, ``gc``, ``owner``).
"""

from __future__ import annotations

import errno

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.kernel import linkmark
from boxnet.kernel.linkgc import garbage_name
from boxnet.kernel.nlerror import nl_error as _err


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
