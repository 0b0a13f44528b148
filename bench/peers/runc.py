"""runc's own start time, for reference: `runc run -d` of busybox sleep in an empty netns.

A bundle with the busybox rootfs and `runc spec`'s config, changed only where this machine
needs it: no terminal, the network namespace joined from a pinned path (as an engine does),
and no rlimits (this VM denies setting them). runc keeps its state under the bench temp dir
(--root), never in /run/runc.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

from bench.peers import images
from bench.peers.host import BenchHost, pin_netns, unpin_netns


class RuncRef:
    """Times `runc run -d` and its `delete -f`, inside its own bench host netns."""

    name = "runc"
    kind = "runtime"

    def __init__(self):
        self.host = BenchHost(self.name)
        self.bundle = self.host.tmp / "bundle"
        self.state = self.host.tmp / "state"
        self.pin = self.host.tmp / "sb-netns"
        self._n = 0
        self.last_delete = 0.0

    def available(self) -> tuple[bool, str]:
        """Whether runc is installed."""
        return (True, "") if shutil.which("runc") else (False, "runc not installed")

    def start(self) -> None:
        """Create the bench netns, the bundle and one pinned container netns."""
        self.host.create()
        images.rootfs_dir(self.bundle / "rootfs")
        subprocess.run(["runc", "spec"], cwd=self.bundle, check=True)
        cfg = json.loads((self.bundle / "config.json").read_text())
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["sleep", "3600"]
        cfg["process"].pop("rlimits", None)
        cfg["root"]["readonly"] = False
        pin_netns(self.pin)
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = str(self.pin)
        (self.bundle / "config.json").write_text(json.dumps(cfg))
        self.state.mkdir()

    def run_once(self) -> float:
        """Timed `runc run -d`; the container is deleted afterwards (timed: last_delete)."""
        self._n += 1
        cid = f"{self.host.name}-{self._n}"
        err = self.host.tmp / "runc.err"
        # The detached container inherits runc's stdio: never give it our pipes, or we would
        # wait for an EOF that only comes when the container exits.
        with open(err, "wb") as errf:
            t0 = time.perf_counter()
            res = self.host.run(["runc", "--root", str(self.state), "run", "-d", "--bundle",
                                 str(self.bundle), cid], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errf, capture_output=False)
            t = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.host.run(["runc", "--root", str(self.state), "delete", "-f", cid],
                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL, capture_output=False)
        # `delete -f` of a running container: SIGKILL, reap, cgroup and state removal,
        # the runtime's whole share of an engine's `rm -f`
        self.last_delete = time.perf_counter() - t0
        if res.returncode != 0:
            raise RuntimeError(f"runc run failed: {err.read_text()[-300:]}")
        return t

    def stop(self) -> None:
        """Delete leftover containers, unpin the netns, tear the bench host down."""
        if self.state.exists():
            for d in self.state.iterdir():
                self.host.run(["runc", "--root", str(self.state), "delete", "-f", d.name],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, capture_output=False)
        unpin_netns(self.pin)
        self.host.teardown()
