"""A test host whose boxnetd runs in a private mount namespace of its own.

`unshare --mount --propagation private` before the daemon, as under systemd's
`PrivateMounts=` or inside a container: the daemon's mounts (its netns pins,
container root overlays) exist only in its mount namespace and vanish when it
dies, while the containers' processes, and so their network namespaces, live
on.  `pins()` reads what the daemon's mount namespace holds through /proc.
Plain module (no pytest import).
"""

from __future__ import annotations

import os

from . import harness


class PrivateMountHost(harness.TestHost):
    """A TestHost whose daemon runs in a private mount namespace of its own."""

    __test__ = False

    def __init__(self) -> None:
        """The base host; the daemon's argv starts with unshare --mount."""
        super().__init__()
        self.launcher = ["unshare", "--mount", "--propagation", "private"]

    def daemon_view(self, path: str) -> str:
        """`path` as the daemon's mount namespace sees it (through /proc/PID/root)."""
        assert self.running(), "daemon not running"
        return f"/proc/{self.proc.pid}/root{path}"

    def pins(self) -> dict[str, int]:
        """Netns pins under the exec root in the daemon's mount namespace: path -> inode."""
        assert self.running(), "daemon not running"
        found = {}
        with open(f"/proc/{self.proc.pid}/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                point = left.split()[4]
                if right.split()[0] == "nsfs" and point.startswith(str(self.exec_root) + "/"):
                    found[point] = os.stat(self.daemon_view(point)).st_ino
        return found


def netns_inode(pid: int) -> int:
    """The inode of the netns process `pid` is in."""
    return os.stat(f"/proc/{pid}/ns/net").st_ino
