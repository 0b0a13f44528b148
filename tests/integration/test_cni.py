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

from boxnet.core.cniops import attachment_id

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
        # the default launcher (sh + curl where curl is installed, as here) and the
        # Python one
        subprocess.run([str(VENV_BIN / "boxnet-cni"), "install", str(self.dir / "bin")],
                       check=True, capture_output=True)
        assert (self.dir / "bin" / "boxnet").read_text().startswith("#!/bin/sh\n")
        subprocess.run([str(VENV_BIN / "boxnet-cni"), "install", "--python", str(self.dir / "bin"),
                        "boxnet-py"], check=True, capture_output=True)
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
            if p["type"] in ("boxnet", "boxnet-py"):
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


def plugin(ctrd: Containerd, command: str, conf: dict, launcher: str = "boxnet",
           **env) -> tuple[int, dict]:
    """Run an installed launcher as a runtime would; (exit status, JSON printed)."""
    e = {"CNI_COMMAND": command, "CNI_PATH": str(ctrd.dir / "bin"), "PATH": "/usr/bin:/bin",
         **env}
    # compact JSON, as Go's encoder (libcni) writes it
    p = subprocess.run([str(ctrd.dir / "bin" / launcher)],
                       input=json.dumps(conf, separators=(",", ":")).encode(),
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
    # ctr's own ADD and DEL (with no netns, the task is gone) of a `run --rm` container,
    # through the chain boxnet -> tuning -> portmap (each given the previous result)
    ctrd.set_conflist(conflist("cnia", {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.rp_filter": "2"}},
                               {"type": "portmap", "capabilities": {"portMappings": True}}))
    before = host.link_names()
    once = ctrd.run_cni("--rm", IMAGE, "once", "/bin/busybox", "sh", "-c",
                        f"/bin/busybox ping -c1 -W3 {ip1} && /bin/busybox cat "
                        "/proc/sys/net/ipv4/conf/eth0/rp_filter", check=False)
    assert once.returncode == 0, once.stdout + once.stderr
    assert once.stdout.strip().endswith("2"), once.stdout   # tuning ran after boxnet
    assert host.link_names() == before, "the --rm container's veth outlived its DEL"


def _bare(ctrd: Containerd, cid: str, *cmd: str) -> str:
    """A container of its own netns without CNI (lo only); returns its netns path."""
    ctrd.ctr("run", "-d", IMAGE, cid, *(cmd or ("/bin/busybox", "sleep", "600")))
    return f"/proc/{_task_pid(ctrd, cid)}/ns/net"


def _conf(host, network: str, version: str = "1.1.0", **kw) -> dict:
    return {"cniVersion": version, "name": network, "type": "boxnet", "network": network,
            "socket": str(host.sock), **kw}


def _env(cid: str, netns: str, ifname: str = "eth0") -> dict:
    return {"CNI_CONTAINERID": cid, "CNI_NETNS": netns, "CNI_IFNAME": ifname}


def test_add_check_del_gc_status_and_version_as_a_runtime_calls_them(ctrd, host):
    """ADD with a static ip and mac (args), CHECK against its result, GC of a stale
    attachment, DEL twice (idempotent) and DEL of a gone netns, STATUS, VERSION."""
    ns = _bare(ctrd, "m1")
    conf = _conf(host, "cnia", args={"cni": {"ips": ["10.77.1.50"], "mac": "02:42:0a:4d:01:32"}})
    rc, res = plugin(ctrd, "ADD", conf, **_env("m1", ns))
    assert rc == 0, res
    assert res["cniVersion"] == "1.1.0"
    assert res["ips"] == [{"address": "10.77.1.50/24", "interface": 1, "gateway": "10.77.1.1"}]
    assert res["interfaces"][1] == {"name": "eth0", "mac": "02:42:0a:4d:01:32", "sandbox": ns}
    seen = ctrd.ctr("task", "exec", "--exec-id", "i1", "m1", "/bin/busybox", "ip", "addr").stdout
    assert "10.77.1.50/24" in seen and "02:42:0a:4d:01:32" in seen
    route = ctrd.ctr("task", "exec", "--exec-id", "i2", "m1", "/bin/busybox", "ip", "route").stdout
    assert "default via 10.77.1.1 dev eth0" in route
    # the same address again is refused, nothing made
    links = host.link_names()
    ns2 = _bare(ctrd, "m2")
    rc, err = plugin(ctrd, "ADD", {**conf, "args": {"cni": {"ips": ["10.77.1.50"]}}},
                     **_env("m2", ns2))
    assert rc == 1 and err["code"] == 7 and "10.77.1.50" in err["msg"], err
    assert host.link_names() == links
    # CHECK: fine with the result, refuses another address
    assert plugin(ctrd, "CHECK", {**conf, "prevResult": res}, **_env("m1", ns))[0] == 0
    bad = json.loads(json.dumps(res))
    bad["ips"][0]["address"] = "10.77.1.99/24"
    rc, err = plugin(ctrd, "CHECK", {**conf, "prevResult": bad}, **_env("m1", ns))
    assert rc == 1 and "10.77.1.99" in err["msg"], err
    rc, err = plugin(ctrd, "CHECK", {**conf, "prevResult": res}, **_env("nobody", ns))
    assert rc == 1 and err["code"] == 3, err
    # GC: m2's attachment is not in the valid list, m1's is
    assert plugin(ctrd, "ADD", _conf(host, "cnia"), **_env("m2", ns2))[0] == 0
    # both attachments in network inspect, each under "ep-<endpoint id>" as Docker keys
    # an endpoint without a container
    listed = host.network("cnia")["Containers"]
    m1, m2 = (listed.get("ep-" + attachment_id(cid, "eth0")) for cid in ("m1", "m2"))
    assert m1 and m2, listed
    assert m1["IPv4Address"] == "10.77.1.50/24" and m2["IPv4Address"].startswith("10.77.1.")
    gc = {**_conf(host, "cnia"), "cni.dev/valid-attachments": [{"containerID": "m1", "ifname": "eth0"}]}
    assert plugin(ctrd, "GC", gc)[0] == 0
    inside = ctrd.ctr("task", "exec", "--exec-id", "i3", "m2", "/bin/busybox", "ip", "link").stdout
    assert "eth0" not in inside
    assert "eth0" in ctrd.ctr("task", "exec", "--exec-id", "i4", "m1", "/bin/busybox", "ip",
                               "link").stdout
    # STATUS and VERSION
    assert plugin(ctrd, "STATUS", _conf(host, "cnia"))[0] == 0
    rc, err = plugin(ctrd, "STATUS", _conf(host, "cnia", socket=str(host.dir / "nosock")))
    assert rc == 1 and err["code"] == 50, err
    rc, v = plugin(ctrd, "VERSION", {})
    assert rc == 0 and "1.1.0" in v["supportedVersions"]
    # DEL twice: the second finds nothing and succeeds; the address is free again
    assert plugin(ctrd, "DEL", conf, **_env("m1", ns))[0] == 0
    assert plugin(ctrd, "DEL", conf, **_env("m1", ns))[0] == 0
    assert "eth0" not in ctrd.ctr("task", "exec", "--exec-id", "i5", "m1", "/bin/busybox", "ip",
                                   "link").stdout
    assert plugin(ctrd, "ADD", conf, **_env("m2", ns2))[0] == 0   # 10.77.1.50 reusable
    # DEL after the container (and its netns) is gone: success, attachment removed
    ctrd.ctr("task", "kill", "-s", "KILL", "m2")
    deadline = time.monotonic() + 30
    while "STOPPED" not in ctrd.ctr("task", "ls").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    rc, err = plugin(ctrd, "DEL", conf, **_env("m2", ""))
    assert rc == 0, err
    assert not [ln for ln in host.link_names() if ln.startswith("veth") and ln not in links]
    for cid in ("m1", "m2"):
        ctrd.ctr("task", "rm", "-f", cid, check=False)
        ctrd.ctr("container", "rm", cid, check=False)


@pytest.mark.parametrize("conf_patch,env_patch,code,words", [
    ({"cniVersion": "0.2.0"}, {}, 1, "incompatible CNI version"),
    ({"bridge": "br0"}, {}, 2, 'bridge="br0"'),
    ({"ipam": {"type": "host-local"}}, {}, 2, "ipam"),
    ({"runtimeConfig": {"bandwidth": {}}}, {}, 2, "runtimeConfig.bandwidth"),
    ({"runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80}]}}, {}, 2,
     "portMappings"),
    ({"network": "nosuchnet"}, {}, 7, "nosuchnet"),
    ({"args": {"cni": {"ips": ["10.99.0.5"]}}}, {}, 7, "outside"),
    ({"args": {"cni": {"mac": "zz"}}}, {}, 7, "mac"),
    ({}, {"CNI_NETNS": "/proc/999999999/ns/net"}, 4, "does not exist"),
    ({}, {"CNI_IFNAME": ""}, 4, "CNI_IFNAME"),
    ({}, {"CNI_ARGS": "FOO=1"}, 4, "FOO"),
])
@pytest.mark.parametrize("launcher", ["boxnet", "boxnet-py"])
def test_bad_input_is_a_cni_error_and_leaves_nothing(ctrd, host, conf_patch, env_patch, code,
                                                     words, launcher):
    """Each bad configuration or environment: CNI's error code, msg naming the
    culprit, exit status 1, no new link on the host and no address taken."""
    ns = env_patch.get("CNI_NETNS") or host.netns   # the test host's netns, never the root one
    before = host.link_names()
    usage = host.network("cnia")["Containers"]
    rc, err = plugin(ctrd, "ADD", {**_conf(host, "cnia"), **conf_patch}, launcher,
                     **{**_env("bad", ns), **env_patch})
    assert rc == 1 and err["code"] == code and words in err["msg"] + err.get("details", ""), err
    assert host.link_names() == before
    assert host.network("cnia")["Containers"] == usage


@pytest.mark.parametrize("launcher", ["boxnet", "boxnet-py"])
def test_undecodable_config_is_error_6(ctrd, host, launcher):
    p = subprocess.run([str(ctrd.dir / "bin" / launcher)], input=b"{not json",
                       capture_output=True, timeout=30,
                       env={"CNI_COMMAND": "ADD", "BOXNET_HOST": f"unix://{host.sock}"})
    assert p.returncode == 1 and json.loads(p.stdout)["code"] == 6, p.stdout


def test_podman_cni_backend_skipped():
    """Podman 4's CNI backend needs podman containers, which this machine cannot run."""
    pytest.skip("podman containers cannot run on this machine (no podman runtime set-up "
                "possible here); the CNI plugin is exercised through containerd instead")


def _ref_plugin(ctrd: Containerd, name: str, command: str, conf: dict, **env):
    """A reference plugin run as a runtime would, inside the test host's netns
    (portmap's iptables rules go there)."""
    e = {"CNI_COMMAND": command, "CNI_PATH": str(ctrd.dir / "bin"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
         **env}
    p = subprocess.run(["nsenter", f"--net={ctrd.host.netns}", str(ctrd.dir / "bin" / name)],
                       input=json.dumps(conf).encode(), capture_output=True, env=e, timeout=60)
    return p.returncode, json.loads(p.stdout or b"{}")


def test_portmap_after_boxnet_publishes_a_port_to_the_outside(ctrd, host, outside):
    """The chain boxnet -> portmap with runtimeConfig portMappings: the outside
    namespace reaches the container's httpd through the host's port, and not after DEL."""
    ns = _bare(ctrd, "w1", "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/")
    out = outside(host)
    env = _env("w1", ns)
    rc, res = plugin(ctrd, "ADD", _conf(host, "cnia", version="1.0.0"), **env)
    assert rc == 0, res
    pm = {"cniVersion": "1.0.0", "name": "cnia", "type": "portmap",
          "capabilities": {"portMappings": True},
          "runtimeConfig": {"portMappings": [{"hostPort": 18080, "containerPort": 80,
                                              "protocol": "tcp"}]}, "prevResult": res}
    rc, chained = _ref_plugin(ctrd, "portmap", "ADD", pm, **env)
    assert rc == 0, chained
    assert chained["ips"] == res["ips"]    # portmap passes boxnet's result on
    got = out.sh(f"timeout 10 wget -qO- http://{out.host_ip}:18080/hello.txt", check=False)
    assert got.returncode == 0, got.stdout + got.stderr
    assert _ref_plugin(ctrd, "portmap", "DEL", pm, **env)[0] == 0
    assert plugin(ctrd, "DEL", _conf(host, "cnia", version="1.0.0"), **env)[0] == 0
    gone = out.sh(f"timeout 5 wget -qO- http://{out.host_ip}:18080/hello.txt", check=False)
    assert gone.returncode != 0
    ctrd.ctr("task", "kill", "-s", "KILL", "w1", check=False)
    ctrd.ctr("task", "rm", "-f", "w1", check=False)
    ctrd.ctr("container", "rm", "w1", check=False)


def test_attachment_survives_a_boxnetd_restart(ctrd, host):
    """boxnetd restarts: the CNI attachment is kept (CHECK passes, the container still
    reaches its gateway) and DEL afterwards removes it."""
    ns = _bare(ctrd, "r1")
    conf = _conf(host, "cnia")
    rc, res = plugin(ctrd, "ADD", conf, **_env("r1", ns))
    assert rc == 0, res
    host.restart()
    assert plugin(ctrd, "CHECK", {**conf, "prevResult": res}, **_env("r1", ns))[0] == 0
    ping = ctrd.ctr("task", "exec", "--exec-id", "rp", "r1", "/bin/busybox", "ping", "-c1", "-W3",
                    "10.77.1.1", check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert plugin(ctrd, "DEL", conf, **_env("r1", ns))[0] == 0
    assert "eth0" not in ctrd.ctr("task", "exec", "--exec-id", "rl", "r1", "/bin/busybox", "ip",
                                   "link").stdout
    ctrd.ctr("task", "kill", "-s", "KILL", "r1", check=False)
    ctrd.ctr("task", "rm", "-f", "r1", check=False)
    ctrd.ctr("container", "rm", "r1", check=False)


@pytest.mark.parametrize("launcher", ["boxnet", "boxnet-py"])
def test_launcher_with_ctr_run_cni(ctrd, host, launcher):
    """Each launcher (the default sh + curl one, and `boxnet-cni install --python`):
    ctr run --cni through it, the container pings one of boxnet's own; DEL by ctr
    leaves no veth; STATUS and VERSION; boxnetd down is error 11 (50 for STATUS)."""
    c = host.cli("run", "-d", "--network", "cnia", "busybox", "sleep", "600").stdout.strip()
    ip = host.ip_of(c, "cnia")
    # containerd 1.6 (libcni 1.1.2) and Debian's reference plugins stop at 1.0.0
    ctrd.set_conflist({"cniVersion": "1.0.0", "name": "cnia",
                       "plugins": [{"type": launcher, "network": "cnia"}, {"type": "tuning"}]})
    before = host.link_names()
    r = ctrd.run_cni("--rm", IMAGE, f"l-{launcher}", "/bin/busybox", "ping", "-c1", "-W3", ip,
                     check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert host.link_names() == before
    assert plugin(ctrd, "STATUS", _conf(host, "cnia"), launcher)[0] == 0
    rc, v = plugin(ctrd, "VERSION", {}, launcher)
    assert rc == 0 and "1.1.0" in v["supportedVersions"], v
    gone = _conf(host, "cnia", socket=str(host.dir / "nosock"))
    assert plugin(ctrd, "STATUS", gone, launcher)[1]["code"] == 50
    rc, err = plugin(ctrd, "ADD", gone, launcher, **_env("x", host.netns))
    assert rc == 1 and err["code"] == 11, err
    host.cli("rm", "-f", c)
