"""A stock dockerd (Debian docker.io) inside a TestHost's netns, for the Docker plugin tests.

dockerd finds plugins only in fixed places (/run/docker/plugins for sockets), so it
runs in a private mount namespace whose /run/docker is a tmpfs holding
`plugins/` bound to the test's own plugin directory: the host's /run/docker is never
touched.  Its data root, exec root, pidfile, config and socket live in the test
host's temp dir; its managed containerd lives under them; vfs storage (no overlay
mounts to leave behind).  The default bridge is off (--bridge=none).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import harness, imagetars

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def available() -> str:
    """'' when dockerd can be used here, else why not (a skip reason)."""
    if not os.path.exists(DOCKERD):
        return "dockerd not installed (apt-get install docker.io)"
    return ""


class Dockerd:
    """One dockerd beside a TestHost's boxnetd (same netns), using plugin dir ``plugins``."""

    def __init__(self, host: harness.TestHost, plugins: Path, name: str = "dockerd"):
        self.host = host
        self.plugins = plugins
        self.dir = host.dir / name
        self.dir.mkdir(exist_ok=True)
        self.sock = self.dir / "docker.sock"
        self.log_path = self.dir / "dockerd.log"
        self.cfg = self.dir / "cli"
        self.cfg.mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        """dockerd in a private mount namespace, in the host's netns."""
        d = self.dir
        (d / "daemon.json").write_text(json.dumps({}))
        inner = (f"mount -t tmpfs tmpfs /run/docker && mkdir /run/docker/plugins && "
                 f"mount --bind {self.plugins} /run/docker/plugins && exec nsenter "
                 f"--net={self.host.netns} {DOCKERD} --data-root {d}/data --exec-root {d}/exec "
                 f"--pidfile {d}/dockerd.pid --config-file {d}/daemon.json -H unix://{self.sock} "
                 f"--bridge=none --iptables=false --ip-masq=false --storage-driver vfs "
                 f"--log-level debug")
        os.makedirs("/run/docker", exist_ok=True)   # the mount point (dockerd makes it too)
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]

    def start(self, timeout: float = 90) -> None:
        """Start it and wait until the CLI gets an answer."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        harness.STARTED_PIDS.add(self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dockerd exited {self.proc.returncode}\n{self.log_tail()}")
            if self.sock.exists() and self.cli("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"dockerd not ready after {timeout}s\n{self.log_tail()}")

    def stop(self, timeout: float = 30) -> None:
        """Remove every container, then SIGTERM our dockerd (SIGKILL after ``timeout``)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        ids = self.cli("ps", "-aq", check=False).stdout.split()
        if ids:
            self.cli("rm", "-f", *ids, check=False)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        """The end of dockerd's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cli(self, *args: str, check: bool = True, timeout: float = 120,
            ) -> subprocess.CompletedProcess:
        """The docker CLI against this dockerd."""
        env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}", DOCKER_CLI_HINTS="false",
                   DOCKER_CONFIG=str(self.cfg))
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {r.returncode}\n{r.stdout}\n"
                                 f"{r.stderr}\n--- dockerd log:\n{self.log_tail(30)}")
        return r

    def load_busybox(self) -> None:
        """busybox:latest from a docker-archive tarball (imagetars.py)."""
        tar = self.dir / "busybox.tar"
        imagetars.docker_archive(str(tar), "busybox:latest")
        self.cli("load", "-i", str(tar))
