"""Docker's daemon with boxnet as its network plugin (issue 19), inside one bench netns.

boxnetd runs first with --docker-plugin, its plugin socket in the bench host's temp
dir; dockerd (as the docker peer starts it) runs in a private mount namespace whose
/run/docker is a tmpfs with `plugins/` bound to that dir, so it finds the `boxnet`
driver and IPAM driver and the host's /run/docker is not touched.
"""

from __future__ import annotations

import os
import subprocess
import time

from bench.peers.boxnet import _boxnetd
from bench.peers.docker import DockerPeer


class DockerPluginPeer(DockerPeer):
    """dockerd whose `boxnet` networks are boxnetd's (the plugin's driver and IPAM)."""

    name = "docker-plugin"
    daemon_names = ("dockerd", "containerd", "boxnetd")

    def available(self) -> tuple[bool, str]:
        """dockerd and boxnetd installed."""
        ok, why = super().available()
        if ok and _boxnetd() is None:
            return False, "boxnetd not found"
        return ok, why

    def daemon_argv(self) -> list[str]:
        """The docker peer's dockerd, started after the plugin dir is bound in its mount ns."""
        plugins = self.host.tmp / "plugins"
        inner = (f"mount -t tmpfs tmpfs /run/docker && mkdir /run/docker/plugins && "
                 f"mount --bind {plugins} /run/docker/plugins && exec "
                 + " ".join(super().daemon_argv()))
        os.makedirs("/run/docker", exist_ok=True)
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]

    def start(self, timeout: float = 60.0) -> None:
        """boxnetd with the plugin first (waited for its socket), then dockerd."""
        real_create = self.host.create
        real_create()
        t = self.host.tmp
        plugins = t / "plugins"
        plugins.mkdir()
        log = open(t / "boxnetd.log", "wb")
        self.boxnetd = self.host.popen(
            [*_boxnetd(), "--data-root", str(t / "bx-data"), "--exec-root", str(t / "bx-exec"),
             "-H", f"unix://{t}/bx.sock", "--bridge", "none",
             "--docker-plugin", str(plugins / "boxnet.sock")],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not (plugins / "boxnet.sock").exists():
            if self.boxnetd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("boxnetd with --docker-plugin did not start: "
                                   + (t / "boxnetd.log").read_text(errors="replace")[-400:])
            time.sleep(0.05)
        self.host.create = lambda: None   # made above; the docker peer's start makes it too
        try:
            super().start(timeout)
        finally:
            self.host.create = real_create

