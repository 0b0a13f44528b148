"""The real `docker` CLI (28.x) driving boxnetd: every command of issue 6,
asserting on what it prints and on what happens in the kernel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile

import pytest

from integration import imagetars

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


class Docker:
    """The docker CLI pointed at one TestHost's socket."""

    def __init__(self, host, tmp):
        self.host = host
        self.env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp),
                        DOCKER_CLI_HINTS="false")

    def __call__(self, *args: str, check: bool = True, input: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        r = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                           input=input, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def out(self, *args: str) -> str:
        """stdout of a successful command, stripped."""
        return self(*args).stdout.strip()

    def tty(self, cmdline: str, script: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run `docker cmdline` on a real pty (util-linux script), typing `script`."""
        return subprocess.run(["script", "-qec", f"{DOCKER} {cmdline}", "/dev/null"],
                              env=self.env, input=script, capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """The docker CLI against the module's boxnetd."""
    return Docker(host, tmp_path_factory.mktemp("dockercfg"))


def test_version_and_info(docker):
    """`docker version` shows the server's API version; `info` answers."""
    out = docker.out("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}")
    assert out == "1.52 linux"
    assert docker.out("info", "--format", "{{.OSType}}") == "linux"


def test_network_create_every_flag(docker, host):
    """`network create` with every flag; inspect and the kernel agree."""
    nid = docker.out("network", "create", "-d", "bridge", "--subnet", "10.61.0.0/16",
                     "--gateway", "10.61.0.1", "--ip-range", "10.61.5.0/24",
                     "--aux-address", "reserved=10.61.5.2", "--ipv6", "--subnet", "fd61::/64",
                     "--internal", "--attachable", "--label", "team=blue",
                     "-o", "com.docker.network.bridge.name=br-cli61", "cli-all")
    assert len(nid) == 64
    fmt = ("{{.Name}}|{{.Driver}}|{{.Internal}}|{{.Attachable}}|{{.EnableIPv6}}|"
           "{{index .Labels \"team\"}}|{{range .IPAM.Config}}{{.Subnet}},{{.Gateway}},"
           "{{.IPRange}};{{end}}")
    out = docker.out("network", "inspect", "--format", fmt, "cli-all")
    assert out.startswith("cli-all|bridge|true|true|true|blue|10.61.0.0/16,10.61.0.1,10.61.5.0/24;")
    assert "fd61::/64" in out
    assert "br-cli61" in host.link_names()
    ls = docker.out("network", "ls", "--filter", "label=team=blue", "--format", "{{.Name}} {{.Driver}}")
    assert ls == "cli-all bridge"
    assert nid[:12] in docker.out("network", "ls", "-q").split()
    docker("network", "rm", "cli-all")
    assert "br-cli61" not in host.link_names()
    assert "cli-all" not in docker.out("network", "ls", "--format", "{{.Name}}").split()


def test_run_connect_reach(docker, host):
    """run -d with --network/--network-alias/--ip/-e/--dns/--add-host/-v/-p; the
    containers reach each other by alias; connect/disconnect change the kernel."""
    docker("network", "create", "--subnet", "10.62.0.0/24", "cli-front")
    docker("network", "create", "--subnet", "10.63.0.0/24", "cli-back")
    docker("run", "-d", "--name", "web1", "--network", "cli-front", "--network-alias", "www",
           "--ip", "10.62.0.50", "-e", "GREETING=hi", "-p", "8081:80", "busybox",
           "httpd", "-f", "-p", "80", "-h", "/etc")
    docker("run", "-d", "--name", "cli1", "--network", "cli-front", "--dns", "10.9.9.9",
           "--add-host", "extra.test:10.1.2.3", "-v", f"{host.dir}:/hostdir:ro", "busybox",
           "sleep", "600")
    ps = docker.out("ps", "--format", "{{.Names}} {{.Status}} {{.Ports}}")
    assert any(line.startswith("web1 Up") and "8081->80/tcp" in line for line in ps.splitlines())
    ip = docker.out("inspect", "-f", "{{(index .NetworkSettings.Networks \"cli-front\").IPAddress}}",
                    "web1")
    assert ip == "10.62.0.50"
    assert docker.out("exec", "web1", "sh", "-c", "echo $GREETING") == "hi"
    r = docker("exec", "cli1", "wget", "-q", "-O-", "http://www/hostname", check=False)
    assert r.returncode == 0, r.stderr
    assert docker.out("exec", "cli1", "grep", "extra.test", "/etc/hosts").split()[0] == "10.1.2.3"
    resolv = docker.out("exec", "cli1", "cat", "/etc/resolv.conf")
    assert "10.9.9.9" in resolv or "127.0.0.11" in resolv  # direct, or via the embedded DNS
    assert docker("exec", "cli1", "ls", "/hostdir/boxnetd.log").returncode == 0
    assert docker.out("port", "web1").splitlines()[0] == "80/tcp -> 0.0.0.0:8081"
    # connect with --alias and --ip: reachable on the second network by alias
    docker("run", "-d", "--name", "back1", "--network", "cli-back", "busybox", "sleep", "600")
    assert docker("exec", "back1", "ping", "-c1", "-W1", "10.62.0.50", check=False).returncode != 0
    docker("network", "connect", "--alias", "api", "--ip", "10.63.0.77", "cli-back", "web1")
    assert docker.out("exec", "web1", "ip", "-4", "-o", "addr").count("10.63.0.77/24") == 1
    r = docker("exec", "back1", "ping", "-c1", "-W2", "api", check=False)
    assert r.returncode == 0 and "10.63.0.77" in r.stdout, r.stdout + r.stderr
    docker("network", "disconnect", "-f", "cli-back", "web1")
    assert "10.63.0.77" not in docker.out("exec", "web1", "ip", "-4", "-o", "addr")
    assert docker("exec", "back1", "ping", "-c1", "-W1", "10.63.0.77", check=False).returncode != 0


def test_foreground_run_logs_wait(docker):
    """Foreground run streams output and returns the exit code; --rm removes;
    logs -f follows until exit; wait prints the code."""
    r = docker("run", "--name", "fg1", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3",
               check=False)
    assert (r.returncode, r.stdout, r.stderr.strip()) == (3, "out\n", "err")
    assert docker.out("logs", "fg1") == "out"
    docker("rm", "fg1")
    assert docker.out("run", "--rm", "--name", "rm1", "busybox", "echo", "gone") == "gone"
    assert "rm1" not in docker.out("ps", "-a", "--format", "{{.Names}}").split()
    docker("run", "-d", "--name", "lf1", "busybox", "sh", "-c",
           "for i in 1 2 3; do echo line$i; sleep 0.3; done; exit 7")
    assert docker.out("logs", "-f", "lf1").split() == ["line1", "line2", "line3"]
    assert docker.out("wait", "lf1") == "7"
    docker("rm", "lf1")


def test_run_sysctl(docker):
    """--sysctl sets a namespaced sysctl in the container's own netns only (the host's
    value is untouched); a non-namespaced one is refused naming the field."""
    host_val = docker.host.sysctl("net.ipv4.conf.all.forwarding")
    out = docker.out("run", "--rm", "--sysctl", "net.ipv4.conf.all.forwarding=0",
                     "--sysctl", "net.ipv4.ip_unprivileged_port_start=900", "busybox", "cat",
                     "/proc/sys/net/ipv4/conf/all/forwarding",
                     "/proc/sys/net/ipv4/ip_unprivileged_port_start")
    assert out.split() == ["0", "900"]
    assert docker.host.sysctl("net.ipv4.conf.all.forwarding") == host_val == "1"
    # the CLI itself refuses kernel.panic; the daemon does too, for any client
    status, body = docker.host.api("POST", "/containers/create", json={
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"Sysctls": {"kernel.panic": "1"}}})
    assert status == 400 and "HostConfig.Sysctls is not supported" in body["message"]
    r = docker("run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1",
               "busybox", "true", check=False)
    assert r.returncode != 0 and "own network namespace" in r.stderr


def test_lifecycle_commands(docker):
    """start, stop, kill, restart, rm -f, with ps/inspect showing each state."""
    docker("run", "-d", "--name", "life1", "busybox", "sleep", "600")
    state = lambda: docker.out("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "life1")
    docker("stop", "-t", "1", "life1")
    assert state().startswith("exited")
    docker("start", "life1")
    assert state() == "running 0"
    docker("kill", "life1")
    assert state() == "exited 137"
    docker("restart", "-t", "1", "life1")
    assert state() == "running 0"
    assert docker.out("rm", "-f", "life1") == "life1"
    assert docker("inspect", "life1", check=False).returncode != 0


def test_exec_stdin_and_tty(docker):
    """exec -i forwards stdin; run -it / exec -it get a real terminal."""
    docker("run", "-d", "--name", "tty1", "busybox", "sleep", "600")
    assert docker("exec", "-i", "tty1", "cat", input="piped in\n").stdout == "piped in\n"
    r = docker.tty("exec -it tty1 sh", "tty; echo sum=$((6*7)); exit 4\n")
    assert r.returncode == 4, r.stdout
    assert "/dev/pts/" in r.stdout and "sum=42" in r.stdout
    r = docker.tty("run -it --rm --name tty2 busybox sh", "tty; echo $TERM; exit 5\n")
    assert r.returncode == 5, r.stdout
    assert "/dev/pts/0" in r.stdout and "xterm" in r.stdout
    docker("rm", "-f", "tty1")


def test_unknown_network_reported_at_start(docker):
    """No pull attempt: the container is created, start says the network is missing."""
    r = docker("run", "--name", "nonet1", "--network", "nope-net", "busybox", "true", check=False)
    assert r.returncode != 0
    assert "network nope-net not found" in r.stderr and "Unable to find image" not in r.stderr
    docker("rm", "-f", "nonet1")


def test_pull_gives_clear_message(docker):
    """pull (and run of a missing image) from the default registry, unreachable from the
    test host (its netns has no route out: nothing is sent), fail with Docker's message
    naming the registry, and `run` names the image it could not find locally first."""
    r = docker("pull", "alpine", check=False)
    assert r.returncode != 0 and "registry-1.docker.io" in r.stderr, r.stderr
    r = docker("run", "--rm", "alpine:3.20", "true", check=False)
    assert r.returncode != 0 and "registry-1.docker.io" in r.stderr, r.stderr
    assert "alpine:3.20" in r.stderr + r.stdout
    assert docker.out("images", "-q", "alpine") == ""


def test_connect_ip6_and_exact_name_over_id_prefix(docker, host):
    """`network connect --ip6` on a dual-stack network puts that address in the
    container; a container whose name looks like another's id prefix is found by name."""
    docker("network", "create", "--ipv6", "--subnet", "fd64::/64", "--subnet",
           "10.64.9.0/24", "cli-six")
    cid = docker.out("run", "-d", "--name", "six1", "busybox", "sleep", "600")
    docker("network", "connect", "--ip", "10.64.9.9", "--ip6", "fd64::99", "cli-six", "six1")
    addrs = docker.out("exec", "six1", "ip", "-o", "addr")
    assert "fd64::99/64" in addrs and "10.64.9.9/24" in addrs, addrs
    fmt = '{{(index .NetworkSettings.Networks "cli-six").GlobalIPv6Address}}'
    assert docker.out("inspect", "-f", fmt, "six1") == "fd64::99"
    # a second container named like the first one's id prefix: names win, as in dockerd
    prefix = cid[:6]
    other = docker.out("run", "-d", "--name", prefix, "busybox", "sleep", "600")
    assert docker.out("inspect", "-f", "{{.Id}}", prefix) == other
    assert docker.out("inspect", "-f", "{{.Name}}", cid[:12]) == "/six1"
    docker("rm", "-f", "six1", prefix)
    docker("network", "rm", "cli-six")


def test_images_import_load_tag_rmi(docker, tmp_path):
    """import of a rootfs, load of docker-archive and OCI layout (whiteouts
    honoured), tag, images, rmi."""
    da, oci, rootfs = tmp_path / "da.tar", tmp_path / "oci.tar", tmp_path / "rootfs.tar"
    imagetars.docker_archive(str(da), "cli/da:v1")
    imagetars.oci_layout(str(oci), "cli/oci:v2")
    assert docker.out("load", "-i", str(da)) == "Loaded image: cli/da:v1"
    assert docker.out("load", "-i", str(oci)) == "Loaded image: cli/oci:v2"
    for ref in ("cli/da:v1", "cli/oci:v2"):
        out = docker.out("run", "--rm", ref, "sh", "-c",
                         "ls /data/old; test -e /etc/gone.txt || echo whited-out; cat /hello.txt;"
                         " pwd; echo $LOADED")
        assert out.split("\n") == ["c", "whited-out", "hello from layer 2", "/data", "1"], out
    with tarfile.open(rootfs, "w") as t:
        t.add(imagetars.BUSYBOX, "bin/busybox")
        info = tarfile.TarInfo("bin/sh")
        info.type, info.linkname = tarfile.SYMTYPE, "busybox"
        t.addfile(info)
    iid = docker.out("import", str(rootfs), "cli/imported:1")
    assert iid.startswith("sha256:")
    assert docker.out("run", "--rm", "cli/imported:1", "/bin/sh", "-c", "echo imported") == "imported"
    docker("tag", "cli/da:v1", "cli/retag:x")
    images = docker.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert {"cli/da:v1", "cli/oci:v2", "cli/imported:1", "cli/retag:x", "busybox:latest"} <= set(images)
    assert docker.out("rmi", "cli/retag:x") == "Untagged: cli/retag:x"
    assert "cli/retag:x" not in docker.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()


def test_network_prune_and_events(docker):
    """network prune -f removes unused networks; the event stream saw them."""
    docker("network", "create", "cli-unused1")
    docker("network", "create", "cli-unused2")
    out = docker.out("network", "prune", "-f")
    assert "cli-unused1" in out and "cli-unused2" in out
    names = docker.out("network", "ls", "--format", "{{.Name}}").split()
    assert "cli-unused1" not in names and "bridge" in names
    ev = docker.out("events", "--since", "5m", "--until", "0s", "--filter", "type=network",
                    "--format", "{{.Action}} {{.Actor.Attributes.name}}")
    assert "create cli-unused1" in ev and "destroy cli-unused1" in ev


def test_swarm_leave_like_dockerd(docker):
    """Swarm commands answer as a daemon outside a swarm."""
    r = docker("swarm", "leave", check=False)
    assert r.returncode != 0 and "This node is not part of a swarm" in r.stderr


def test_images_filters(docker):
    """`docker images NAME` and `--filter` are applied (they were accepted and ignored)."""
    bb = docker.out("inspect", "-f", "{{.Id}}", "busybox")[7:19]
    assert docker.out("images", "-q", "busybox") == bb
    assert docker.out("images", "-q", "--filter", "reference=busy*") == bb
    assert docker.out("images", "-q", "--filter", "dangling=true") == ""
    assert bb not in docker.out("images", "-q", "--filter", "before=busybox")
    r = docker("images", "--filter", "colour=red", check=False)
    assert r.returncode != 0 and "invalid filter 'colour'" in r.stderr, r.stderr
