"""Bridge-port settings (IFLA_PROTINFO) through the daemon's netlink handle."""

from __future__ import annotations

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
