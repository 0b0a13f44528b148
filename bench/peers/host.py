"""The "bench host": one throwaway network namespace plus a temp dir per peer.

Each peer runs inside its own ``bxb-<hex>`` netns, entered with ``nsenter --net`` (not
``ip netns exec``, which remounts /sys and hides the cgroup mounts that runc and dockerd
need). Teardown kills only the PIDs this harness started, unmounts whatever a daemon left
mounted under the temp dir, and deletes the netns.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


def _proc_children(pid: int) -> list[int]:
    """Direct children of pid, from /proc/<pid>/task/*/children."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def descendants(pid: int) -> list[int]:
    """All descendants of pid (children first, breadth first)."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        for child in _proc_children(todo.pop()):
            if child not in seen:
                seen.append(child)
                todo.append(child)
    return seen


def rss_kib(pid: int) -> int:
    """VmRSS of pid in KiB, 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_name(pid: int) -> str:
    """The comm name of pid, '' if gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def pids_mentioning(text: str) -> list[int]:
    """PIDs whose command line mentions text (a bench temp dir: unique, random).

    containerd's shims double-fork away from the daemon's process tree; their command line
    names the daemon's socket under our temp dir, which is how we find (and, at teardown,
    kill by PID) the processes our own daemons started.
    """
    needle = text.encode()
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


class BenchHost:
    """A bench host netns ``bxb-<hex>`` with a temp dir; a context manager."""

    def __init__(self, label: str):
        self.label = label
        self.name = f"bxb-{secrets.token_hex(4)}"
        self.netns_path = f"/run/netns/{self.name}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bxb-{label}-"))
        self._pids: list[int] = []
        self._created = False

    def __enter__(self) -> "BenchHost":
        self.create()
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def create(self) -> None:
        """Create the netns and bring its loopback up."""
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self._created = True
        self.run(["ip", "link", "set", "lo", "up"], check=True)

    def cmd(self, argv: list[str]) -> list[str]:
        """argv prefixed so that it runs inside this host's netns only."""
        return ["nsenter", f"--net={self.netns_path}", *argv]

    def run(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        """subprocess.run inside the netns (text mode, output captured unless told otherwise)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.cmd(argv), **kw)

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        """Start a long-lived process inside the netns and remember its PID for teardown."""
        proc = subprocess.Popen(self.cmd(argv), **kw)
        self._pids.append(proc.pid)
        return proc

    def ruleset_size(self) -> dict:
        """Lines of `nft list ruleset` and of `iptables-save` in this netns (never the root)."""
        out = {}
        for key, argv in (("nft_lines", ["nft", "list", "ruleset"]),
                          ("iptables_lines", ["iptables-save"])):
            res = self.run(argv)
            out[key] = len(res.stdout.splitlines()) if res.returncode == 0 else None
        return out

    def kill_tree(self, pid: int, timeout: float = 20.0) -> None:
        """SIGTERM pid, wait, then SIGKILL it and any descendant still alive (by PID)."""
        family = descendants(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.05)
        for p in [pid, *family]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def unmount_all(self) -> None:
        """Unmount (deepest first) every mount a daemon left under the temp dir."""
        prefix = str(self.tmp)
        mounts = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == prefix or mnt.startswith(prefix + "/"):
                mounts.append(mnt)
        for mnt in sorted(set(mounts), key=len, reverse=True):
            if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mnt], capture_output=True)

    def teardown(self) -> None:
        """Kill what we started (by PID), unmount, delete the netns and the temp dir."""
        for pid in reversed(self._pids):
            if Path(f"/proc/{pid}").exists():
                self.kill_tree(pid, timeout=5.0)
        self._pids.clear()
        for pid in pids_mentioning(str(self.tmp)):
            if pid != os.getpid():
                self.kill_tree(pid, timeout=2.0)
        self.unmount_all()
        if self._created:
            subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
            self._created = False
        shutil.rmtree(self.tmp, ignore_errors=True)


def pin_netns(path: Path) -> None:
    """Create a new, empty netns pinned at path (a bind mount of nsfs), with lo up."""
    path.touch()
    subprocess.run(["unshare", f"--net={path}", "ip", "link", "set", "lo", "up"], check=True)


def unpin_netns(path: Path) -> None:
    """Unmount and remove a netns pin made by pin_netns."""
    subprocess.run(["umount", str(path)], capture_output=True)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
