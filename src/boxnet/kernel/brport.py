"""Bridge-port settings (IFLA_PROTINFO) and the bridge's neighbour entries,
through the daemon's netlink handle."""

from __future__ import annotations

import errno
import ipaddress
import socket

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError


async def set_hairpin(nl, ifname: str, on: bool = True) -> None:
    """Let the bridge send a frame back out of the port it came in on.

    Needed for hairpin NAT when br_netfilter is active (bridge-nf-call-iptables=1,
    the default when it is built in): a container connecting to its own
    published port is DNATed at the bridge level and its frame goes back to
    its own port.  With enhanced DAD (nonce, default on) the reflected IPv6
    neighbour solicitations do not break duplicate address detection.
    """
    ipr = await nl.handle()
    try:
        idx = await ipr.link_lookup(ifname=ifname)
        if not idx:
            raise KernelError(f"cannot set hairpin mode: no interface {ifname}")
        await ipr.brport("set", index=idx[0], mode=1 if on else 0)
    except NetlinkError as e:
        raise KernelError(f"cannot set hairpin mode on {ifname}: {e}") from e


async def forget_neighbours(nl, bridge: str, addrs) -> None:
    """Delete the host's neighbour (ARP/NDP) entries for ``addrs`` on ``bridge``.

    Why: endpoint MACs are random and IPAM hands a freed address to the next
    container, so the host may still hold a REACHABLE entry mapping that
    address to the previous container's MAC (REACHABLE lasts 15-45 s and is
    used without any probe).  Routed traffic to the new container, e.g. a
    published port, then goes to a MAC no port owns and is lost until the
    entry ages out.  Called when the new endpoint joins, so the kernel
    resolves the address afresh.  Missing entries are fine.
    """
    ipr = await nl.handle()
    try:
        idx = await ipr.link_lookup(ifname=bridge)
        if not idx:
            return
        for addr in addrs:
            ip = ipaddress.ip_interface(addr).ip
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            try:
                await ipr.neigh("del", ifindex=idx[0], dst=str(ip), family=family)
            except NetlinkError as e:
                if e.code not in (errno.ENOENT, errno.ESRCH):
                    raise
    except NetlinkError as e:
        raise KernelError(f"cannot flush neighbour entries on {bridge}: {e}") from e
