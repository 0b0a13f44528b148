"""Read and write sysctls, in the daemon's netns or in a pinned netns.

/proc/sys/net/* is resolved against the netns of the thread that OPENS the
file (not of the process that mounted /proc), so for ``netns=path`` the file
is opened inside a worker thread setns'd into that netns.
"""

from __future__ import annotations

from boxnet.errors import KernelError
from boxnet.kernel import netns as _netns


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
