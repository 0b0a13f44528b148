"""Bridge-port settings (IFLA_PROTINFO) and the bridge's neighbour entries,
through the daemon's netlink handle."""

from __future__ import annotations

import errno
import ipaddress
import socket

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError
from boxnet.kernel.nlbatch import all_or_raise


async def set_hairpin(ipr, index: int, on: bool = True) -> None:
    """Let the bridge send a frame back out of the port it came in on.

    Needed for hairpin NAT when br_netfilter is active (bridge-nf-call-iptables=1,
    the default when it is built in): a container connecting to its own
    published port is DNATed at the bridge level and its frame goes back to
    its own port.  With enhanced DAD (nonce, default on) the reflected IPv6
    neighbour solicitations do not break duplicate address detection.
    ``ipr`` is a pyroute2 handle on the bridge's netns; ``index`` the port's.
    """
    try:
        await ipr.brport("set", index=index, mode=1 if on else 0)
    except NetlinkError as e:
        raise KernelError(f"cannot set hairpin mode on interface {index}: {e}") from e


async def forget_neighbour(ipr, bridge_index: int, addr: str) -> None:
    """Delete the host's neighbour (ARP/NDP) entry for ``addr`` on the bridge.

    Why: endpoint MACs are random and IPAM hands a freed address to the next
    container, so the host may still hold a REACHABLE entry mapping that
    address to the previous container's MAC (REACHABLE lasts 15-45 s and is
    used without any probe).  Routed traffic to the new container, e.g. a
    published port, then goes to a MAC no port owns and is lost until the
    entry ages out.  Called when the new endpoint joins, so the kernel
    resolves the address afresh.  A missing entry is fine.
    """
    ip = ipaddress.ip_interface(addr).ip
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        await ipr.neigh("del", ifindex=bridge_index, dst=str(ip), family=family)
    except NetlinkError as e:
        if e.code not in (errno.ENOENT, errno.ESRCH):
            raise KernelError(f"cannot flush the neighbour entry of {ip}: {e}") from e


def port_setup(addrs, hairpin: bool = True):
    """The ``port_setup`` hook of ``Netlink.attach_veth`` for a bridge port:
    hairpin mode on the new port and stale neighbour entries of its addresses
    gone, sent together with the netns work (indices known, no lookups)."""
    async def setup(ipr, index: int, bridge_index: int | None) -> None:
        jobs = [set_hairpin(ipr, index, hairpin)] if hairpin else []
        if bridge_index is not None:
            jobs += [forget_neighbour(ipr, bridge_index, a) for a in addrs]
        await all_or_raise(*jobs)
    return setup
