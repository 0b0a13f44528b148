"""Traffic control (tc) through pyroute2: the rate limits of an endpoint.

Both limits are put on the host end of the endpoint's veth, in the daemon's
netns, where the container cannot touch them:

- the container's ingress is what leaves the host end: a tbf qdisc at its
  root;
- the container's egress is what arrives at the host end. A qdisc shapes
  only what a device sends, so the ingress qdisc of the host end redirects
  every packet (a u32 filter matching all, action mirred) to an IFB device
  of the endpoint whose root is a tbf. Shaping (queueing) there, rather than
  a policer dropping at the rate, keeps TCP within a few percent of the
  limit instead of its sawtooth under a policer.

The IFB lives outside the container's netns: it does not die with the veth,
so `clear_rates` deletes it (deleting what is already gone is success).
"""

from __future__ import annotations

import errno

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import KernelError
from boxnet.kernel.nlerror import nl_error as _err

_TC_H_INGRESS = 0xFFFF0000
_ETH_P_ALL = 0x0003
_HZ_SLACK_S = 0.008     # burst: at least 8 ms at the rate (timer ticks are 4 ms at HZ=250)
_MIN_BURST = 32 * 1514  # a few full GSO pieces, so a slow rate still passes big segments
_LATENCY = "100ms"      # queue allowed in front of the bucket


def ifb_name(endpoint_id: str) -> str:
    """The name of the IFB device of an endpoint (15 bytes at most)."""
    return "bxifb" + endpoint_id[:10]


def _burst(rate_bps: int) -> int:
    return max(_MIN_BURST, int(rate_bps / 8 * _HZ_SLACK_S))


async def _index(ipr, name: str) -> int:
    msgs = await ipr.link("get", ifname=name)
    if not msgs:
        raise KernelError(f"no network interface {name}")
    return msgs[0]["index"]


async def _tbf(ipr, index: int, rate_bps: int) -> None:
    await ipr.tc("add", "tbf", index, handle=0x10000, rate=rate_bps // 8,
                 burst=_burst(rate_bps), latency=_LATENCY)


async def set_rates(nl, host_ifname: str, endpoint_id: str,
                    ingress_bps: int | None, egress_bps: int | None) -> None:
    """Limit the container behind `host_ifname` (the host end of its veth,
    in the daemon's netns; `nl` the daemon's Netlink) to `ingress_bps` into
    it and `egress_bps` out of it (bits per second, None: no limit). On a
    failure what was set is removed again before the KernelError."""
    if not ingress_bps and not egress_bps:
        return
    ipr = await nl.handle(None)
    try:
        index = await _index(ipr, host_ifname)
        if ingress_bps:
            await _tbf(ipr, index, ingress_bps)
        if egress_bps:
            ifb = ifb_name(endpoint_id)
            await ipr.link("add", ifname=ifb, kind="ifb")
            ifb_index = await _index(ipr, ifb)
            await ipr.link("set", index=ifb_index, state="up")
            await _tbf(ipr, ifb_index, egress_bps)
            await ipr.tc("add", "ingress", index, handle=_TC_H_INGRESS)
            # u32 matching every packet: this kernel has no cls_matchall
            await ipr.tc("add-filter", "u32", index, parent=_TC_H_INGRESS, prio=1,
                         protocol=_ETH_P_ALL, target=0, keys=["0x0/0x0+0"],
                         action={"kind": "mirred", "direction": "egress",
                                 "action": "redirect", "ifindex": ifb_index})
    except (NetlinkError, KernelError) as e:
        await clear_rates(nl, host_ifname, endpoint_id)
        if isinstance(e, KernelError):
            raise
        raise _err(f"cannot set the rate limits of {host_ifname}", e) from e


async def clear_rates(nl, host_ifname: str, endpoint_id: str) -> None:
    """Remove the limits of `set_rates`: the veth's qdiscs (if the veth is
    still there) and the IFB device. Missing pieces are not errors."""
    ipr = await nl.handle(None)
    for name, steps in ((host_ifname, ("root", "ingress")), (ifb_name(endpoint_id), ("link",))):
        msgs = await ipr.link("get", ifname=name) if await _exists(ipr, name) else []
        if not msgs:
            continue
        index = msgs[0]["index"]
        for step in steps:
            try:
                if step == "root":
                    await ipr.tc("del", index=index, handle=0x10000, root=True)
                elif step == "ingress":
                    await ipr.tc("del", "ingress", index, handle=_TC_H_INGRESS)
                else:
                    await ipr.link("del", index=index)
            except NetlinkError as e:
                if e.code not in (errno.ENOENT, errno.EINVAL, errno.ENODEV):
                    raise _err(f"cannot remove the rate limits of {name}", e) from e


async def _exists(ipr, name: str) -> bool:
    try:
        return bool(await ipr.link_lookup(ifname=name))
    except NetlinkError:
        return False


async def qdisc_kinds(nl, ifname: str) -> list[str]:
    """The kinds of the qdiscs on `ifname` in the daemon's netns (for tests
    and inspection), e.g. ["tbf", "ingress"]."""
    ipr = await nl.handle(None)
    index = await _index(ipr, ifname)
    out = []
    async for msg in await ipr.get_qdiscs(index=index):
        out.append(msg.get_attr("TCA_KIND"))
    return out
