"""Docker's daemon from Debian (docker.io) as a peer, inside its own bench netns.

dockerd gets its own --data-root, --exec-root, --pidfile, config file and unix socket under
the bench host's temp dir, and starts its own managed containerd (whose socket and state
also live under those roots). Its iptables rules land in the bench netns only, because the
whole daemon runs under `nsenter --net`. Both daemons get the same address pools
(10.128.0.0/9 in /24s), because Docker's default pools run out after ~31 networks and the
scale scenario creates 250.
"""

from __future__ import annotations

import json
import shutil

from bench.peers.engine import EnginePeer

DOCKERD = "dockerd"
ADDRESS_POOL = "base=10.128.0.0/9,size=24"


class DockerPeer(EnginePeer):
    """dockerd + its managed containerd, driven through the Engine API."""

    name = "docker"
    daemon_names = ("dockerd", "containerd")

    def available(self) -> tuple[bool, str]:
        """Whether dockerd is installed."""
        if shutil.which(DOCKERD) is None:
            return False, "dockerd not installed (apt-get install docker.io)"
        return True, ""

    def daemon_argv(self) -> list[str]:
        """dockerd confined to the bench host's temp dir and netns."""
        t = self.host.tmp
        cfg = t / "daemon.json"
        cfg.write_text(json.dumps({}))
        return [DOCKERD,
                "--data-root", str(t / "data"),
                "--exec-root", str(t / "exec"),
                "--pidfile", str(t / "dockerd.pid"),
                "--config-file", str(cfg),
                "-H", f"unix://{self.sock}",
                "--default-address-pool", ADDRESS_POOL,
                "--iptables=true", "--ip-masq=true",
                "--userland-proxy=false",
                "--log-level", "warn"]
