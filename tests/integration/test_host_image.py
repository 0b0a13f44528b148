"""The boxnet/host image on the real daemon (issue 14, item 13).

- Opt-in: without --allow-host-image the image is not listed and every use
  of it is a 403 naming the flag; the repository name is reserved.
- With it, from inside a boxnet/host container: the daemon's data root, exec
  root, API socket and pidfile are masked (empty / nothing), while the rest
  of the host's files stay visible (the control that makes "empty" mean
  something), and mounts propagate in neither direction.

The daemon of the masking and propagation tests keeps its state on the root
filesystem (/var/lib/bxt-*), not under /tmp (a private tmpfs in these
containers, which would hide it anyway), and runs in a mount namespace of its
own whose "/" is shared, as on a systemd host: there a bind of "/" joins the
peer group of "/" and receives every later host mount unless boxnet makes it
private.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from integration import harness

pytestmark = pytest.mark.kernel


class RootfsHost(harness.TestHost):
    """A TestHost whose daemon dirs live on the root filesystem (/var/lib)."""

    __test__ = False

    def __init__(self) -> None:
        """Move the dirs the base class made under /tmp to /var/lib/<name>."""
        super().__init__()
        shutil.rmtree(self.dir)
        harness.CREATED_DIRS.discard(self.dir)
        self.dir = Path("/var/lib") / self.name
        self.dir.mkdir(mode=0o700)
        harness.CREATED_DIRS.add(self.dir)
        self.data_root, self.exec_root = self.dir / "data", self.dir / "exec"
        self.data_root.mkdir()
        self.exec_root.mkdir()
        self.sock = self.dir / "sock"
        self.host_uri = f"unix://{self.sock}"
        self.log_path = self.dir / "boxnetd.log"
        self.launcher = ["unshare", "--mount", "--propagation", "shared"]

    def in_daemon_ns(self, cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a shell command in the daemon's mount namespace (the "host" side)."""
        return harness.run(["nsenter", f"--mount=/proc/{self.proc.pid}/ns/mnt", "sh", "-c", cmd],
                           check=check)


@pytest.fixture(scope="module")
def rhost():
    """A daemon with --allow-host-image, state on the root fs, "/" shared."""
    if not shutil.which("unshare"):
        pytest.skip("needs util-linux unshare")
    h = RootfsHost()
    try:
        for d in ("probe-in", "probe-out"):
            (h.dir / d).mkdir()
        h.start()
        yield h
    finally:
        problems = h.teardown()
        assert not problems, problems


def tags(h) -> set[str]:
    """Every tag of `image ls`."""
    return {t for img in h.api_ok("GET", "/images/json") for t in img["RepoTags"]}


def test_host_image_is_opt_in(make_host):
    """Without the flag: not listed, run/create/inspect are 403 naming the flag,
    and the name cannot be taken; with it: listed and runs; without it again: hidden."""
    h = make_host(start=False)
    h.host_image = False
    h.start()
    assert "boxnet/host:latest" not in tags(h) and "busybox:latest" in tags(h)
    status, body = h.api("POST", "/containers/create", json={"Image": "boxnet/host",
                                                              "Cmd": ["true"]})
    assert status == 403 and "--allow-host-image" in body["message"], (status, body)
    r = h.cli("run", "--rm", "boxnet/host", "true", check=False)
    assert r.returncode != 0 and "--allow-host-image" in r.stderr, r
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    if os.access(docker, os.X_OK):  # the docker CLI shows the daemon's message
        env = dict(os.environ, DOCKER_HOST=h.host_uri, DOCKER_CONFIG=str(h.dir / "dcfg"))
        r = subprocess.run([docker, "run", "--rm", "boxnet/host", "true"], capture_output=True,
                           text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        assert r.returncode != 0 and "--allow-host-image" in r.stderr, r
    status, body = h.api("GET", "/images/boxnet/host/json")
    assert status == 403 and "--allow-host-image" in body["message"], (status, body)
    status, body = h.api("POST", "/images/busybox/tag?repo=boxnet/host&tag=mine")
    assert status == 400 and "reserved" in body["message"], (status, body)
    assert "boxnet/host:mine" not in tags(h)
    h.host_image = True
    h.restart()
    assert "boxnet/host:latest" in tags(h)
    assert h.cli("run", "--rm", "boxnet/host", "python3", "-c", "print('ran')").stdout == "ran\n"
    h.host_image = False
    h.restart()
    assert "boxnet/host:latest" not in tags(h)
    status, body = h.api("POST", "/containers/create", json={"Image": "boxnet/host",
                                                              "Cmd": ["true"]})
    assert status == 403, (status, body)


def test_state_is_masked(rhost):
    """ls of the data root and exec root shows nothing, the socket and the
    pidfile are not reachable; the daemon's log file beside them is readable."""
    h = rhost
    assert sorted(p.name for p in h.data_root.iterdir()), "the data root should hold state"
    h.cli("run", "-d", "--name", "mask", "boxnet/host", "sleep", "600")
    try:
        assert any(h.exec_root.iterdir()), "the exec root should hold the netns pins"
        d = str(h.dir)
        for path in (h.data_root, h.exec_root):
            r = h.exec("mask", "ls", "-A", str(path))
            assert r.returncode == 0 and r.stdout == "", (path, r)
        r = h.exec("mask", "python3", "-c",
                   "import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(2)\n"
                   f"try:\n s.connect({str(h.sock)!r})\n"
                   " s.sendall(b'GET /_ping HTTP/1.0\\r\\n\\r\\n')\n"
                   " print('REACHED', s.recv(100))\n"
                   "except OSError as e:\n print('refused', e)")
        assert r.returncode == 0 and r.stdout.startswith("refused"), r
        assert h.exec("mask", "test", "-S", str(h.sock)).returncode != 0
        assert h.exec("mask", "cat", f"{d}/boxnetd.pid").stdout == ""
        assert Path("/etc/shadow").read_text() and h.exec("mask", "cat", "/etc/shadow").stdout == ""
        assert h.exec("mask", "cat", "/etc/passwd").stdout == Path("/etc/passwd").read_text()
        assert (h.dir / "boxnetd.pid").read_text().strip() == str(h.proc.pid)
        # control: the rest of the host's tree is visible through the image
        listing = h.exec("mask", "ls", "-A", d).stdout.split()
        assert "boxnetd.log" in listing and "probe-in" in listing, listing
        assert "=== start" in h.exec("mask", "cat", f"{d}/boxnetd.log").stdout
        cfg = json.loads((h.data_root / "runtime" / "containers" / h.inspect("mask")["Id"]
                          / "config.json").read_text())
        assert str(h.sock) in cfg["linux"]["maskedPaths"]
    finally:
        h.cli("rm", "-f", "mask")


def _root_is_shared(h) -> bool:
    for line in Path(f"/proc/{h.proc.pid}/mountinfo").read_text().splitlines():
        fields = line.split(" - ")[0].split()
        if fields[4] == "/":
            return any(f.startswith("shared:") for f in fields[6:])
    return False


def test_no_mount_propagation(rhost):
    """A mount made on the host after the container started does not appear
    inside; a mount made inside the container does not appear on the host."""
    h = rhost
    assert _root_is_shared(h), "the daemon's '/' must be shared for this test to mean anything"
    probe_in, probe_out = h.dir / "probe-in", h.dir / "probe-out"
    h.cli("run", "-d", "--name", "prop", "boxnet/host", "sleep", "600")
    try:
        h.in_daemon_ns(f"mount -t tmpfs bxt-probe {probe_in} && echo host > {probe_in}/mark")
        try:
            assert h.in_daemon_ns(f"cat {probe_in}/mark").stdout == "host\n"
            r = h.exec("prop", "ls", "-A", str(probe_in))
            assert r.returncode == 0 and r.stdout == "", f"host mount seen inside: {r.stdout!r}"
        finally:
            h.in_daemon_ns(f"umount {probe_in}")
        pid = h.inspect("prop")["State"]["Pid"]
        harness.run(["nsenter", f"--target={pid}", "--mount", "sh", "-c",
                     f"mount -t tmpfs bxt-probe {probe_out} && echo inside > {probe_out}/mark"])
        assert h.exec("prop", "cat", f"{probe_out}/mark").stdout == "inside\n"
        assert h.in_daemon_ns(f"ls -A {probe_out}").stdout == "", "container mount seen on host"
        assert list(probe_out.iterdir()) == []
    finally:
        h.cli("rm", "-f", "prop")
