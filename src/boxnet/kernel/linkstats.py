"""Per-interface traffic counters of a network namespace, for `docker stats`.

One rtnetlink link dump (IFLA_STATS64) on the Netlink handle of the
container's pinned netns: no subprocess, no /proc/net/dev parsing.
"""

from __future__ import annotations

from boxnet.kernel.netlink import Netlink

# Docker's NetworkStats fields, in its order, and the kernel's names for them.
FIELDS = (("rx_bytes", "rx_bytes"), ("rx_packets", "rx_packets"), ("rx_errors", "rx_errors"),
          ("rx_dropped", "rx_dropped"), ("tx_bytes", "tx_bytes"),
          ("tx_packets", "tx_packets"), ("tx_errors", "tx_errors"),
          ("tx_dropped", "tx_dropped"))


async def link_counters(nl: Netlink, netns: str) -> dict[str, dict[str, int]]:
    """Interface name -> Docker's NetworkStats counters for every interface of
    `netns` but loopback (Docker reports the container's endpoints only)."""
    ipr = await nl.handle(netns)
    out: dict[str, dict[str, int]] = {}
    async for m in await ipr.link("dump"):
        name = m.get("ifname")
        if not name or name == "lo":
            continue
        st = m.get("stats64") or m.get("stats")
        out[name] = {ours: int(st.get(theirs) or 0) if st is not None else 0
                     for ours, theirs in FIELDS}
    return out
