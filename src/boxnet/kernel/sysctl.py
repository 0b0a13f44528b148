"""Read and write sysctls, in the daemon's netns or in a pinned netns.

/proc/sys/net/* is resolved against the netns of the thread that OPENS the
file (not of the process that mounted /proc), so for ``netns=path`` the file
is opened inside a worker thread setns'd into that netns.
"""

from __future__ import annotations

import logging

from boxnet.errors import KernelError
from boxnet.kernel import netns as _netns

log = logging.getLogger(__name__)


def sysctl_path(key: str) -> str:
    """/proc/sys path of ``key``: "net.ipv4.ip_forward" or "net/ipv4/conf/eth0.5/forwarding".

    A key with a "/" is taken as a path (as sysctl(8) does), so interface
    names that hold dots can be named.
    """
    if "/" in key:
        rel = key.strip("/")
    else:
        rel = key.replace(".", "/")
    if ".." in rel.split("/"):
        raise KernelError(f"invalid sysctl key {key!r}")
    return "/proc/sys/" + rel


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _do(fn, key: str, netns: str | None, *args):
    path = sysctl_path(key)
    try:
        if netns is None:
            return fn(path, *args)
        return _netns.run_in_netns(netns, fn, path, *args)
    except OSError as e:
        where = f" in netns {netns}" if netns else ""
        raise KernelError(f"sysctl {key}{where}: {e.strerror or e}") from e


def write_sysctl(key: str, value: str, netns: str | None = None) -> None:
    """Set sysctl ``key`` to ``value`` (in the caller's netns, or inside ``netns``)."""
    _do(_write, key, netns, str(value))


def read_sysctl(key: str, netns: str | None = None) -> str:
    """Value of sysctl ``key``, stripped (in the caller's netns, or inside ``netns``)."""
    return _do(_read, key, netns)


# Set in every container netns boxnet creates, before any interface is made in
# it: an interface copies the netns's "default" conf when it is created, so
# the values hold from its first moment up, whatever driver makes it (bridge
# veth, macvlan/ipvlan link, overlay veth).
#   accept_ra=0: a container never takes a route, prefix or MTU from a router
#     advertisement (Docker turned RAs off in containers in 19.03.11, after
#     CVE-2020-13401; the bridge table also drops RAs sent by ports).
#   addr_gen_mode=0: the link-local address is the EUI-64 of the MAC boxnet
#     chose, so the firewall knows each port's link-local without asking the
#     kernel (firewall/nft/bridgeset.py).  Explicit because a host with
#     net.core.devconf_inherit_init_net=1 would hand its own mode (random,
#     stable-privacy) to new namespaces.
SANDBOX_SYSCTLS = (
    ("net/ipv6/conf/default/accept_ra", "0"),
    ("net/ipv6/conf/all/accept_ra", "0"),
    ("net/ipv6/conf/default/addr_gen_mode", "0"),
)


def _sandbox_defaults() -> bool:
    for key, value in SANDBOX_SYSCTLS:
        try:
            _write(sysctl_path(key), value)
        except FileNotFoundError:
            return True  # IPv6 disabled on this kernel: nothing to protect
    try:
        _read(sysctl_path("net/ipv6/conf/default/stable_secret"))
    except OSError:
        return True      # EIO: no secret, so addr_gen_mode 0 holds
    return False         # a secret forces stable-privacy addresses on new links


_warned_secret = False


def sandbox_defaults(netns: str) -> None:
    """Apply SANDBOX_SYSCTLS inside container netns ``netns`` (one hop into it).

    Call right after the netns is created, before any interface is put in it.
    KernelError if a value cannot be written (the container must not start).
    """
    global _warned_secret
    try:
        eui64 = _netns.run_in_netns(netns, _sandbox_defaults)
    except OSError as e:
        raise KernelError(f"IPv6 defaults in netns {netns}: {e.strerror or e}") from e
    if not eui64 and not _warned_secret:
        # Why: a stable_secret in the new netns's default conf (inherited from the
        # host with net.core.devconf_inherit_init_net=1) makes the kernel give new
        # links stable-privacy link-locals whatever addr_gen_mode says, and the
        # bridge table only lets each port's EUI-64 link-local through.
        _warned_secret = True
        log.warning("net.ipv6.conf.default.stable_secret is set in new network namespaces "
                    "(net.core.devconf_inherit_init_net): containers' IPv6 link-local "
                    "addresses are not EUI-64, and boxnet's anti-spoofing drops their "
                    "link-local traffic; unset the secret or the inheritance")
