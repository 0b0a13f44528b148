"""Spare veth pairs of ``Netlink``: made ahead of a Docker plugin Join, taken by it.

Why: creating a veth pair (two netdev registrations, the bridge port, sysfs and
uevents) is the costliest part of the plugin's Join (~4-6 ms, measured in the
plugin_docker bench).  A spare is that pair made in the background: both ends in
the daemon's netns, the host end a port of the network's bridge (hairpin set,
this daemon's ``spare`` mark) but DOWN, the peer down and bare.  Taking it is one
RTM_SETLINK on the host end (the endpoint's own ``veth<id>`` name and up: the
kernel renames before it applies the flags, and refuses to rename an up link,
which is why the spare waits down) plus one on the peer (the endpoint's MAC).

A down host end with a down, unconfigured peer in the daemon's netns carries no
traffic: nothing can send on the peer, and the bridge port has no carrier.  The
names are ``vbs<11 hex>`` (host end) and ``vbx<11 hex>`` (peer): never Docker's
``veth<7 hex>`` nor an endpoint's ``veth<11 hex>``, so a count of an engine's
endpoint veths does not see them; a spare left by a crash is found by its name
and mark at the next start (core/orphans.py).
"""

from __future__ import annotations

import errno
import re
import secrets

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError
from boxnet.kernel.ifindex import host_index as _index
from boxnet.kernel.nlbatch import all_or_raise
from boxnet.kernel.nlerror import nl_error as _err

SPARE_HOST = "vbs"
SPARE_PEER = "vbx"
SPARE_KIND = "spare"      # the mark's kind (kernel/linkmark.py)
SPARE_NAME = re.compile(r"^vbs[0-9a-f]{11}$")


def spare_names() -> tuple[str, str]:
    """Fresh (host end, peer) names of a spare, one random 11-hex tag for both."""
    tag = secrets.token_hex(6)[:11]
    return SPARE_HOST + tag, SPARE_PEER + tag


class SpareVethOps:
    """Spare veth pairs (mixin of ``Netlink``: uses its ``_host`` handle, ``mark``
    and ``delete_link``)."""

    async def make_spare_veth(self, host_ifname: str, peer_name: str, bridge: str,
                              mtu: int | None, port_setup=None) -> None:
        """Create a spare: host end ``host_ifname`` down on ``bridge`` (its mark and
        ``port_setup(handle, index, bridge_index)`` sent along), peer ``peer_name`` down.
        On failure nothing is left and KernelError is raised."""
        host = self._host
        bridge_index = _index(bridge)
        if bridge_index is None:
            raise KernelError(f"cannot find bridge {bridge}: no network interface {bridge}")
        kw = {"master": bridge_index}
        peer = {"ifname": peer_name}
        if mtu:
            peer["mtu"] = kw["mtu"] = mtu
        try:
            msgs = await host.link("add", ifname=host_ifname, kind="veth", peer=peer, **kw)
        except NetlinkError as e:
            raise _err(f"cannot create spare veth pair {host_ifname}/{peer_name}", e) from e
        try:
            new = next((m for m in msgs if m.get("ifname") == host_ifname), None)
            idx = new["index"] if new else _index(host_ifname)
            if idx is None:
                raise KernelError(f"spare {host_ifname} vanished as it was made")
            jobs = [host.link("set", index=idx, ifalias=self.mark(SPARE_KIND))]
            if port_setup is not None:
                jobs.append(port_setup(host, idx, bridge_index))
            await all_or_raise(*jobs)
        except BaseException as e:
            await self.delete_link(host_ifname)   # the peer goes with it
            if isinstance(e, NetlinkError):
                raise _err(f"cannot set up spare {host_ifname}", e) from e
            raise
        return None

    async def take_spare_veth(self, spare_ifname: str, host_ifname: str, peer_name: str,
                              mac: str, bridge: str, port_setup=None) -> None:
        """Turn spare ``spare_ifname`` into an endpoint's pair: the host end renamed
        ``host_ifname``, marked ``veth`` and up, the peer ``peer_name`` given ``mac``;
        ``port_setup`` as make_spare_veth's (the endpoint's own part, e.g. stale
        neighbour entries).  On failure the pair is deleted (whatever was done of it)
        and KernelError raised; the caller then makes a pair afresh."""
        host = self._host
        self.gc.touch()
        idx, peer_idx, bridge_index = _index(spare_ifname), _index(peer_name), _index(bridge)
        if idx is None or peer_idx is None or bridge_index is None:
            if idx is not None:
                await self._delete_index(idx)
            raise KernelError(f"spare {spare_ifname}/{peer_name} or bridge {bridge} is gone")
        try:
            jobs = [host.link("set", index=idx, ifname=host_ifname, state="up",
                              ifalias=self.mark("veth")),
                    host.link("set", index=peer_idx, address=mac)]
            if port_setup is not None:
                jobs.append(port_setup(host, idx, bridge_index))
            await all_or_raise(*jobs)
        except BaseException as e:
            await self._delete_index(idx)
            if isinstance(e, NetlinkError):
                raise _err(f"cannot take spare {spare_ifname} as {host_ifname}", e) from e
            raise

    async def _delete_index(self, index: int) -> None:
        """Delete link ``index`` of the host; no error if it is gone."""
        try:
            await self._host.link("del", index=index)
        except NetlinkError as e:
            if e.code not in (errno.ENODEV, errno.ENOENT):
                raise _err(f"cannot delete interface {index}", e) from e
