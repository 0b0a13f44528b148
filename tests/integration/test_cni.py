"""boxnet as a CNI plugin (issue 19 part 2), with containerd's `ctr run --cni`.

containerd (Debian's) runs inside the test host's netns with its own root, state and
socket; a busybox image tarball (imagetars.py) is imported with `ctr image import`.
`ctr run --cni` reads /etc/cni/net.d and /opt/cni/bin (go-cni's defaults, no
environment override in containerd 1.6), so ctr runs in a private mount namespace
where an overlay on /etc and a tmpfs on /opt give it the test's conflist and bin dir
(nothing of the real /etc or /opt changes).  Containers are checked from inside
(busybox ping, wget), the bad-input cases by the plugin's CNI error and the kernel
left unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from . import harness, imagetars

CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
REF = "/usr/lib/cni"
IMAGE = "docker.io/library/cnibox:1"
NS = "bxcni"
VENV_BIN = Path(harness.BOXNETD).parent

pytestmark = pytest.mark.skipif(not (CONTAINERD and CTR and os.path.exists(f"{REF}/portmap")),
                                reason="containerd / containernetworking-plugins not installed "
                                       "(scripts/install.sh --dev)")


class Containerd:
    """containerd in the host's netns, and ctr run in a mount namespace with the
    test's CNI conf and bin dirs."""

    def __init__(self, host: harness.TestHost):
        self.host = host
        self.dir = host.dir / "containerd"
        for d in ("root", "state", "etc-up", "etc-work", "conf", "bin"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        self.sock = self.dir / "containerd.sock"
        cfg = self.dir / "config.toml"
        cfg.write_text(f'version = 2\nroot = "{self.dir}/root"\nstate = "{self.dir}/state"\n'
                       f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                       f'[grpc]\n  address = "{self.sock}"\n')
        self.log = open(self.dir / "containerd.log", "ab")
        self.proc = subprocess.Popen(["nsenter", f"--net={host.netns}", CONTAINERD, "--config",
                                      str(cfg)], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        harness.STARTED_PIDS.add(self.proc.pid)
        deadline = time.monotonic() + 60
        while self.ctr("version", check=False).returncode != 0:
            assert self.proc.poll() is None, (self.dir / "containerd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "containerd not ready"
            time.sleep(0.1)
        subprocess.run([str(VENV_BIN / "boxnet-cni"), "install", str(self.dir / "bin")],
                       check=True, capture_output=True)
        for p in ("loopback", "portmap", "tuning", "bridge", "host-local"):
            shutil.copy2(f"{REF}/{p}", self.dir / "bin" / p)
        tar = self.dir / "image.tar"
        imagetars.docker_archive(str(tar), "cnibox:1")
        self.ctr("image", "import", "--all-platforms", str(tar))

    def ctr(self, *args: str, check: bool = True, timeout: float = 120,
            env: dict | None = None) -> subprocess.CompletedProcess:
        """ctr against this containerd, in the host netns."""
        return harness.run(["nsenter", f"--net={self.host.netns}", CTR, "-a", str(self.sock),
                            "-n", NS, *args], check=check, timeout=timeout)

    def set_conflist(self, conf: dict) -> None:
        """The only conflist of the conf dir (boxnet's entries get this host's socket)."""
        for p in conf["plugins"]:
            if p["type"] == "boxnet":
                p.setdefault("socket", str(self.host.sock))
        for f in (self.dir / "conf").iterdir():
            f.unlink()
        (self.dir / "conf" / "10-boxnet.conflist").write_text(json.dumps(conf))

    def run_cni(self, *args: str, check: bool = True, timeout: float = 120):
        """`ctr run --cni ARGS` with the test's /etc/cni/net.d and /opt/cni/bin."""
        d = self.dir
        script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/etc-up,"
                  f"workdir={d}/etc-work /etc && mkdir -p /etc/cni/net.d && "
                  f"mount --bind {d}/conf /etc/cni/net.d && mount -t tmpfs none /opt && "
                  f"mkdir -p /opt/cni/bin && mount --bind {d}/bin /opt/cni/bin && "
                  f"mount --bind {d}/bin {REF} && "
                  f'exec nsenter --net={self.host.netns} {CTR} -a {self.sock} -n {NS} run --cni "$@"')
        return harness.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                            "sh", *args], check=check, timeout=timeout)

    def stop(self) -> None:
        """Remove every container and stop containerd (its PID only)."""
        out = self.ctr("task", "ls", "-q", check=False).stdout.split()
        for t in out:
            self.ctr("task", "kill", "-s", "KILL", t, check=False)
            self.ctr("task", "rm", "-f", t, check=False)
        for cid in self.ctr("container", "ls", "-q", check=False).stdout.split():
            self.ctr("container", "rm", cid, check=False)
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
        # containerd's overlay snapshot mounts live in the host's mount table
        subprocess.run(["sh", "-c", f"grep -o ' {self.dir}[^ ]*' /proc/mounts | sort -r | "
                        "xargs -r -n1 umount -l"], check=False)


def conflist(network: str, *extra: dict, version: str = "1.0.0", **boxnet) -> dict:
    """A conflist with boxnet first, then ``extra`` plugins."""
    return {"cniVersion": version, "name": network,
            "plugins": [{"type": "boxnet", "network": network, **boxnet}, *extra]}


@pytest.fixture(scope="module")
def ctrd(host):
    """containerd beside the module's boxnetd, two boxnet networks made."""
    host.cli("network", "create", "--subnet", "10.77.1.0/24", "cnia")
    host.cli("network", "create", "--subnet", "10.77.2.0/24", "cnib")
    c = Containerd(host)
    yield c
    c.stop()


def plugin(ctrd: Containerd, command: str, conf: dict, **env) -> tuple[int, dict]:
    """Run the installed launcher as a runtime would; (exit status, JSON printed)."""
    e = {"CNI_COMMAND": command, "CNI_PATH": str(ctrd.dir / "bin"), "PATH": "/usr/bin:/bin",
         **env}
    p = subprocess.run([str(ctrd.dir / "bin" / "boxnet")], input=json.dumps(conf).encode(),
                       capture_output=True, env=e, timeout=60)
    return p.returncode, json.loads(p.stdout or b"{}")


def _task_pid(ctrd: Containerd, cid: str) -> int:
    for line in ctrd.ctr("task", "ls").stdout.splitlines()[1:]:
        parts = line.split()
        if parts and parts[0] == cid:
            return int(parts[1])
    raise AssertionError(f"no task {cid}")


def _ip_in(ctrd: Containerd, cid: str) -> str:
    out = ctrd.ctr("task", "exec", "--exec-id", f"ip{time.monotonic_ns()}", cid,
                   "/bin/busybox", "ip", "-4", "-o", "addr", "show", "eth0").stdout
    return out.split("inet ")[1].split("/")[0]


def test_ctr_run_cni_two_containers_reach_each_other_isolated_from_other_network(ctrd, host):
    """Two `ctr run --cni` containers on cnia ping each other; one on cnib cannot."""
    ctrd.set_conflist(conflist("cnia", {"type": "tuning"}))
    ctrd.run_cni("-d", IMAGE, "a1", "/bin/busybox", "sleep", "600")
    ctrd.run_cni("-d", IMAGE, "a2", "/bin/busybox", "sleep", "600")
    ctrd.set_conflist(conflist("cnib"))
    ctrd.run_cni("-d", IMAGE, "b1", "/bin/busybox", "sleep", "600")
    ip1, ip2, ipb = _ip_in(ctrd, "a1"), _ip_in(ctrd, "a2"), _ip_in(ctrd, "b1")
    assert ip1.startswith("10.77.1.") and ip2.startswith("10.77.1.") and ipb.startswith("10.77.2.")
    ping = ctrd.ctr("task", "exec", "--exec-id", "p1", "a2", "/bin/busybox", "ping", "-c1",
                    "-W3", ip1, check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    iso = ctrd.ctr("task", "exec", "--exec-id", "p2", "b1", "/bin/busybox", "ping", "-c1",
                   "-W2", ip1, check=False)
    assert iso.returncode != 0, "a container of cnib reached one of cnia"
    # boxnet's own containers on cnia reach the CNI container too: one IPAM, one bridge
    r = host.cli("run", "--rm", "--network", "cnia", "busybox", "ping", "-c1", "-W3", ip1,
                 check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # the kernel's view: the attachment's veth is a port of cnia's bridge
    eps = host.network("cnia")
    assert eps["Name"] == "cnia"
