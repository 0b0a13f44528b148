"""Per-endpoint settings applied to an interface already plumbed into a
container's netns: extra addresses (IPAMConfig.LinkLocalIPs) and
per-interface sysctls (com.docker.network.endpoint.sysctls).

Both run after the driver's join, whatever the driver (veth, macvlan,
ipvlan): the caller's undo of the join removes the interface and with it
everything set here.
"""

from __future__ import annotations

import errno

from pyroute2.netlink.exceptions import NetlinkError

from boxnet.errors import InvalidParameter, KernelError
from boxnet.kernel import netns as _netns
from boxnet.kernel import sysctl
from boxnet.kernel.nlerror import nl_error as _err
from boxnet.kernel.nsplumb import add_addr


async def add_addresses(nl, netns_path: str, ifname: str, addrs: list[str]) -> None:
    """Add "ip/prefix" addresses to `ifname` inside `netns_path` (IPv6 without
    DAD, as the endpoint's own); `nl` is the daemon's Netlink."""
    if not addrs:
        return
    ipr = await nl.handle(netns_path)
    try:
        msgs = await ipr.link("get", ifname=ifname)
        if not msgs:
            raise KernelError(f"no network interface {ifname} in netns {netns_path}")
        index = msgs[0]["index"]
        for a in addrs:
            await add_addr(ipr, index, a)
    except NetlinkError as e:
        raise _err(f"cannot add addresses {', '.join(addrs)} to {ifname}", e) from e


def _write_all(pairs: list[tuple[str, str]]) -> None:
    for key, value in pairs:
        try:
            with open(sysctl.sysctl_path(key), "w") as f:
                f.write(value)
        except OSError as e:
            what = f"cannot set sysctl {key.replace('/', '.')}={value}: {e.strerror or e}"
            if e.errno in (errno.ENOENT, errno.EINVAL):   # no such key, or a value it refuses
                raise InvalidParameter(what + " (com.docker.network.endpoint.sysctls)") from e
            raise KernelError(what) from e


async def write_sysctls(netns_path: str, pairs: list[tuple[str, str]]) -> None:
    """Write each (path "net/ipv4/conf/eth0/forwarding", value) inside the
    netns (the files are opened by a thread in it: kernel/sysctl.py); the
    first failure is a KernelError naming the sysctl (an unknown key is
    ENOENT there)."""
    if pairs:
        await _netns.arun_in_netns(netns_path, _write_all, pairs)
