"""VXLAN links, static FDB and neighbour entries for overlay networks (pyroute2).

The overlay driver never lets the kernel learn: the VXLAN device is made
with learning off and ARP proxy on, and every remote endpoint gets

- an FDB entry ``MAC -> remote VTEP`` (where to send its frames), and
- a permanent neighbour entry ``IP -> MAC`` on the VXLAN device per
  address, which the device's proxy uses to answer local ARP requests and
  (IPv6) Neighbour Solicitations, so no broadcast or multicast ever crosses
  the underlay.

IPv6 and the host: the VXLAN device keeps IPv6 on (the kernel refuses
neighbour entries on a device with IPv6 disabled, and its proxy needs them)
but gets no link-local address (addr_gen_mode none, set before it is up);
the overlay bridge gets ``disable_ipv6=1``: the host has no address at all
on an overlay, IPv6 included (bridging of IPv6 frames is not affected).

Works in the netns of the thread that opened it (the daemon's host netns).
pyroute2 messages never leave this module.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError
from boxnet.kernel.nlqueue import drop_late_replies

NUD_PERMANENT = 0x80
NTF_SELF = 0x02


def _ipv6_conf(dev: str, key: str, value: str) -> None:
    """Set net.ipv6.conf.<dev>.<key> in the caller's netns (no-op without IPv6)."""
    try:
        with open(f"/proc/sys/net/ipv6/conf/{dev}/{key}", "w") as f:
            f.write(value)
    except FileNotFoundError:
        pass  # IPv6 is off on this host (or this device): nothing to hide


def _fam(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _ip_list(ips) -> list[str]:
    """``ips`` as a list: a sequence of addresses, or one address ("" for none)."""
    if isinstance(ips, str):
        return [ips] if ips else []
    return [ip for ip in ips if ip]


def _err(what: str, e: BaseException) -> KernelError:
    if isinstance(e, NetlinkError):
        return KernelError(f"{what}: {os.strerror(e.code)} (errno {e.code})")
    return KernelError(f"{what}: {e}")


class Vxlan:
    """VXLAN devices and their static forwarding entries in the daemon's netns."""

    def __init__(self, ipr: AsyncIPRoute):
        self._ipr = ipr

    @classmethod
    async def open(cls) -> "Vxlan":
        """Open a netlink handle on the calling thread's netns."""
        ipr = AsyncIPRoute()
        await ipr.setup_endpoint()
        drop_late_replies(ipr)   # pyroute2 would keep every late ACK (kernel/nlqueue.py)
        return cls(ipr)

    def close(self) -> None:
        """Close the netlink handle."""
        self._ipr.close()

    async def _index(self, name: str) -> int | None:
        try:
            msgs = await self._ipr.link("get", ifname=name)
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return None
            raise _err(f"cannot look up {name}", e) from e
        return msgs[0]["index"] if msgs else None

    async def underlay(self, address: str) -> tuple[str, int]:
        """(interface name, MTU) of the interface holding ``address``."""
        fam = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        async for a in await self._ipr.addr("dump", family=fam):
            if a.get("address") == address:
                link = (await self._ipr.link("get", index=a["index"]))[0]
                return link.get("ifname"), int(link.get("mtu") or 1500)
        raise KernelError(f"no interface of this host has the advertise address {address} "
                          f"(--cluster-advertise must be one of this host's addresses)")

    async def ensure_vxlan(self, name: str, vni: int, local: str, port: int, bridge: str,
                           mtu: int) -> None:
        """Create (or adopt) VXLAN ``name`` with learning off and ARP proxy on,
        enslaved to ``bridge``, up; a device of that name with another VNI is an error."""
        try:
            found = None
            idx = await self._index(name)
            if idx is not None:
                found = (await self._ipr.link("get", index=idx))[0]
                data = found.get(("linkinfo", "data")) or {}
                if found.get(("linkinfo", "kind")) != "vxlan" or \
                        (data and data.get("vxlan_id") not in (None, vni)):
                    raise KernelError(f"interface {name} exists and is not VXLAN {vni}")
            else:
                await self._ipr.link("add", ifname=name, kind="vxlan", vxlan_id=vni,
                                     vxlan_local=local, vxlan_port=port, vxlan_learning=0,
                                     vxlan_proxy=1, mtu=mtu)
                idx = await self._index(name)
                _ipv6_conf(name, "addr_gen_mode", "1")  # before up: no link-local address
            br = await self._index(bridge)
            if br is None:
                raise KernelError(f"no bridge {bridge} for {name}")
            _ipv6_conf(bridge, "disable_ipv6", "1")    # the host is not on the overlay
            await self._ipr.link("set", index=idx, master=br, mtu=mtu, state="up")
        except KernelError:
            raise
        except Exception as e:
            if isinstance(e, NetlinkError) and e.code == errno.EEXIST:
                raise KernelError(f"cannot create VXLAN {name}: VNI {vni} (UDP {port}) is already "
                                  f"in use by another device of this host") from e
            raise _err(f"cannot set up VXLAN {name} (VNI {vni})", e) from e

    async def add_peer(self, dev: str, mac: str, ips, vtep: str) -> None:
        """Static FDB ``mac -> vtep`` and a permanent neighbour ``ip -> mac`` on ``dev``
        for each of ``ips`` (IPv4 and/or IPv6; one address or a sequence), replacing."""
        ips = _ip_list(ips)
        idx = await self._index(dev)
        if idx is None:
            raise KernelError(f"no VXLAN device {dev}")
        try:
            await self._ipr.fdb("replace", ifindex=idx, lladdr=mac, dst=vtep,
                                state=NUD_PERMANENT, flags=NTF_SELF)
            for ip in ips:
                await self._ipr.neigh("replace", ifindex=idx, family=_fam(ip), dst=ip,
                                      lladdr=mac, state=NUD_PERMANENT)
        except NetlinkError as e:
            raise _err(f"cannot program peer {mac} ({', '.join(ips)}) via {vtep} on {dev}",
                       e) from e

    async def del_peer(self, dev: str, mac: str, ips, vtep: str) -> None:
        """Remove what add_peer made; no error if absent."""
        ips = _ip_list(ips)
        idx = await self._index(dev)
        if idx is None:
            return
        calls = [lambda: self._ipr.fdb("del", ifindex=idx, lladdr=mac, dst=vtep, flags=NTF_SELF)]
        for ip in ips:
            calls.append(lambda ip=ip: self._ipr.neigh("del", ifindex=idx, family=_fam(ip),
                                                       dst=ip, lladdr=mac))
        for call in calls:
            try:
                await call()
            except NetlinkError as e:
                if e.code not in (errno.ENOENT, errno.ENODEV, errno.ESRCH, errno.EINVAL):
                    raise _err(f"cannot remove peer {mac} from {dev}", e) from e

    async def peers(self, dev: str) -> list[tuple[str, str]]:
        """(mac, vtep) of the static unicast FDB entries of ``dev`` (for tests and reconcile)."""
        idx = await self._index(dev)
        if idx is None:
            return []
        out = []
        async for m in await self._ipr.fdb("dump", ifindex=idx):
            if m.get("ifindex") != idx:
                continue
            dst = m.get("NDA_DST")
            mac = m.get("NDA_LLADDR")
            if dst and mac and mac != "00:00:00:00:00:00":
                out.append((mac, dst))
        return out
