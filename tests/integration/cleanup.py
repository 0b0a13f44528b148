"""Teardown helpers: leftover runc containers, mounts and netns processes.

Only objects under a test's own temp dir, or processes inside network
namespaces the test (or its daemon) created, are ever touched.  The root
netns and the test process itself are explicitly excluded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

RUNC = "runc"


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def mountinfo() -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount of our mount namespace."""
    result = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            result.append((_unescape(left.split()[4]), right.split()[0]))
    return result


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`."""
    d = str(directory)
    return [m for m, _ in mountinfo() if m == d or m.startswith(d + "/")]


def nsfs_mounts_under(directory: Path) -> list[str]:
    """Namespace pins (nsfs bind mounts) at or below `directory`."""
    d = str(directory)
    return [m for m, fs in mountinfo() if fs == "nsfs" and m.startswith(d + "/")]


def umount_under(directory: Path) -> list[str]:
    """Lazily unmount everything below `directory`, deepest first; return failures."""
    for _ in range(3):
        mounts = mounts_under(directory)
        if not mounts:
            return []
        for m in sorted(set(mounts), key=lambda p: (-p.count("/"), p)):
            subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
    return [f"cannot unmount {m}" for m in mounts_under(directory)]


def _runc_states(directory: Path, max_depth: int = 5) -> list[Path]:
    """state.json files of runc containers below `directory`.

    Never descends into mount points: a container rootfs can be a bind of the
    host's whole root filesystem."""
    skip = set(mounts_under(directory)) - {str(directory)}
    found = []
    base_depth = str(directory).count("/")
    for root, dirs, files in os.walk(directory):
        if "state.json" in files and (Path(root) / "state.json").is_file():
            found.append(Path(root) / "state.json")
        depth = root.count("/") - base_depth
        dirs[:] = [] if depth >= max_depth else [
            d for d in dirs if os.path.join(root, d) not in skip]
    return found


def delete_runc_containers(directory: Path) -> list[str]:
    """`runc delete -f` every container whose runc state lives below `directory`."""
    problems = []
    for state in _runc_states(directory):
        cid, root = state.parent.name, state.parent.parent
        r = subprocess.run([RUNC, "--root", str(root), "delete", "-f", cid],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0 and state.exists():
            problems.append(f"runc delete -f {cid}: {r.stderr.strip()}")
    return problems


def _ns_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def netns_pids(paths: list[str]) -> list[int]:
    """PIDs of processes whose netns is one of `paths` (never the root one, never us)."""
    keys = {k for k in map(_ns_key, paths) if k}
    keys -= {_ns_key("/proc/1/ns/net"), _ns_key("/proc/self/ns/net")}
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            if _ns_key(f"/proc/{entry}/ns/net") in keys:
                pids.append(int(entry))
    return pids


def kill_netns_processes(paths: list[str], timeout: float = 5) -> None:
    """SIGKILL processes living in network namespaces we created.

    Everything in them was started by the test or by its daemon: a host-mode
    container, an exec'd process, a helper.  Waits until they are gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in netns_pids(paths) if pid_alive(p)]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """True when the PID exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


OWN_VETH = re.compile(r"^veth[0-9a-f]{11}$")


def dying_links(links: list[dict]) -> list[str]:
    """Links (`ip -j link` dicts) that a removal left to die in the background.

    boxnetd answers a removal before the kernel's slow link deletions are
    done (kernel/linkgc.py): a removed network's bridge is down and renamed
    `bxgc-<hex>`, and a stopped container's host veth is down while its
    netns is destroyed.  A live endpoint's veth is always up."""
    return [link["ifname"] for link in links
            if link["ifname"].startswith("bxgc-")
            or (OWN_VETH.match(link["ifname"]) and "UP" not in link.get("flags", []))]


def wait_dying_gone(links: Callable[[], list[dict]], timeout: float = 6.0) -> list[str]:
    """Poll until no link is dying (longer than the daemon's 3 s reaping grace);
    return those still there at the deadline: then they are leaks, and the
    caller's checks will report them."""
    deadline = time.monotonic() + timeout
    while True:
        left = dying_links(links())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)
