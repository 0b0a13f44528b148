"""Process options of issue 16 item 3, continued (test_process_options.py has
capabilities, init and stop): UTS/PID/IPC/cgroup namespace modes, --ulimit,
--shm-size, --oom-score-adj, --privileged, --device and --device-cgroup-rule,
seen from inside real containers; the same through docker-py, docker compose v2,
the boxnet CLI, and in an exec."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from integration.procdocker import DOCKER, docker, ok, poll  # noqa: F401 (docker: a fixture)

pytestmark = pytest.mark.kernel
if not os.path.exists(DOCKER):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


def test_uts_and_pid_host(docker):
    """--uts host shows the host's hostname; --pid host sees this test's PID."""
    assert ok(docker("run", "--rm", "--uts", "host", "busybox", "hostname")) == \
        socket.gethostname()
    assert ok(docker("run", "--rm", "busybox", "hostname")) != socket.gethostname()
    me = os.getpid()
    script = f"test -d /proc/{me} && echo seen || echo unseen"
    assert ok(docker("run", "--rm", "--pid", "host", "busybox", "sh", "-c", script)) == "seen"
    assert ok(docker("run", "--rm", "busybox", "sh", "-c", script)) == "unseen"


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def test_pid_of_another_container_and_ipc_modes(docker, host, tmp_path):
    """--pid container:X sees X's processes; --ipc container:X (X shareable) shares
    its /dev/shm and SysV IPC namespace, a private donor is refused; --ipc host
    shares the host's /dev/shm, --ipc none has none."""
    ok(docker("run", "-d", "--name", "donor", "--ipc", "shareable", "--shm-size", "8m",
              "busybox", "sh", "-c", "echo shared > /dev/shm/mark; exec sleep 600"))
    ok(docker("run", "-d", "--name", "private", "busybox", "sleep", "600"))
    donor = host.inspect("donor")
    shm = os.path.join(host.data_root, "containers", donor["Id"], "shm")
    try:
        out = ok(docker("run", "--rm", "--pid", "container:donor", "busybox", "sh", "-c",
                        "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"))
        assert "sleep 600" in out, out
        got = poll(lambda: (lambda r: r.stdout.strip() if r.returncode == 0 else "")(docker(
            "run", "--rm", "--ipc", "container:donor", "busybox", "sh", "-c",
            "cat /dev/shm/mark && df -k /dev/shm | tail -1 && readlink /proc/self/ns/ipc")),
            "/dev/shm/mark")
        lines = got.splitlines()
        assert lines[0] == "shared" and lines[1].split()[1] == "8192", got
        assert lines[2] == os.readlink(f"/proc/{donor['State']['Pid']}/ns/ipc"), got
        r = docker("run", "--rm", "--ipc", "container:private", "busybox", "true")
        assert r.returncode != 0 and "shareable" in r.stderr, r.stderr
        assert _mounted(shm)
    finally:
        docker("rm", "-f", "donor", "private")
    assert not _mounted(shm), "the shareable container's /dev/shm is still mounted"
    mark = f"/dev/shm/bxt-ipc-{os.getpid()}"
    with open(mark, "w") as f:
        f.write("from the host")
    try:
        assert ok(docker("run", "--rm", "--ipc", "host", "busybox", "cat", mark)) == \
            "from the host"
        r = docker("run", "--rm", "busybox", "cat", mark)
        assert r.returncode != 0, r.stdout
    finally:
        os.unlink(mark)
    out = ok(docker("run", "--rm", "--ipc", "none", "busybox", "sh", "-c",
                    "grep -c ' /dev/shm ' /proc/mounts || true"))
    assert out == "0", out


def test_cgroupns_private(docker):
    """--cgroupns private: the container sees its own cgroup as the root."""
    host_view = ok(docker("run", "--rm", "--cgroupns", "host", "busybox", "cat",
                          "/proc/self/cgroup"))
    assert "boxnet/" in host_view, host_view
    own = ok(docker("run", "--rm", "--cgroupns", "private", "busybox", "cat",
                    "/proc/self/cgroup"))
    assert "boxnet/" not in own, own


def test_ulimit_shm_oom(docker):
    """--ulimit nofile=S:H shows in `ulimit -n`; --shm-size in df; --oom-score-adj
    in /proc/self/oom_score_adj."""
    out = ok(docker("run", "--rm", "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=300",
                    "--ulimit", "core=0", "busybox", "sh", "-c",
                    "ulimit -n; ulimit -Hn; ulimit -u; ulimit -c"))
    assert out.split() == ["1024", "2048", "300", "0"], out
    out = ok(docker("run", "--rm", "--shm-size", "128m", "busybox", "df", "-k", "/dev/shm"))
    assert out.splitlines()[-1].split()[1] == "131072", out
    out = ok(docker("run", "--rm", "busybox", "df", "-k", "/dev/shm"))
    assert out.splitlines()[-1].split()[1] == "65536", out
    assert ok(docker("run", "--rm", "--oom-score-adj", "500", "busybox", "cat",
                     "/proc/self/oom_score_adj")) == "500"


def test_privileged(docker):
    """--privileged: the host's devices in /dev, mount works, /sys writable, no seccomp."""
    script = "ls /dev | wc -l; mkdir /tmp/m && mount -t tmpfs none /tmp/m && echo mounted; " \
             "grep Seccomp: /proc/self/status; grep -w /sys /proc/mounts"
    out = ok(docker("run", "--rm", "--privileged", "busybox", "sh", "-c", script))
    lines = out.splitlines()
    assert int(lines[0]) > 30 and "mounted" in lines, out
    assert "Seccomp:\t0" in out and " rw," in lines[-1], out
    assert os.path.exists("/dev/loop0") == ("loop0" in ok(docker(
        "run", "--rm", "--privileged", "busybox", "ls", "/dev")).split())
    r = docker("run", "--rm", "busybox", "sh", "-c", script)
    assert "mounted" not in r.stdout and int(r.stdout.split()[0]) < 20, r.stdout


def test_device_and_cgroup_rule(docker):
    """--device /dev/null:/dev/mynull passes the node; a node made with mknod is
    usable only with --device-cgroup-rule allowing it."""
    out = ok(docker("run", "--rm", "--device", "/dev/null:/dev/mynull", "busybox", "sh",
                    "-c", "echo x > /dev/mynull && stat -c '%t:%T %F' /dev/mynull"))
    assert out == "1:3 character special file", out
    # a loop device (block 7:0): Docker's default rules allow only mknod of block devices
    script = "mknod /tmp/loop b 7 0 && : < /tmp/loop && echo opened"
    r = docker("run", "--rm", "busybox", "sh", "-c", script)
    assert "opened" not in r.stdout and "ermitted" in r.stderr, (r.stdout, r.stderr)
    assert ok(docker("run", "--rm", "--device-cgroup-rule", "b 7:0 r", "busybox", "sh", "-c",
                     script)) == "opened"


COMPOSE_PROJECT = """
name: bxp
services:
  app:
    image: busybox
    command: ["sh", "-c", "trap 'echo got-quit; exit 5' QUIT; while true; do sleep 0.1; done"]
    init: true
    cap_add: [NET_ADMIN]
    cap_drop: [CHOWN]
    read_only: true
    stop_signal: SIGQUIT
    shm_size: 16m
    ulimits:
      nofile: {soft: 600, hard: 700}
"""


def test_compose_v2_process_options(host, tmp_path):
    """docker compose v2: init, cap_add/cap_drop, read_only, stop_signal, shm_size,
    ulimits, each seen from inside the service's container."""
    import sys
    compose_bin = os.environ.get("DOCKER_COMPOSE") or os.path.join(
        os.path.dirname(sys.executable), "docker-compose")
    if not os.access(compose_bin, os.X_OK):
        pytest.skip(f"docker compose v2 binary missing ({compose_bin})")
    (tmp_path / "compose.yaml").write_text(COMPOSE_PROJECT)
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path))

    def compose(*args: str) -> str:
        r = subprocess.run([compose_bin, *args], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout.strip()
    compose("up", "-d")
    try:
        out = compose("exec", "-T", "app", "sh", "-c",
                      "tr '\\0' ' ' < /proc/1/cmdline; echo; ip addr add 10.9.9.6/32 dev lo "
                      "&& echo netadmin; chown 1 /dev/shm 2>/dev/null || echo nochown; "
                      "touch /x 2>/dev/null || echo readonly; df -k /dev/shm | tail -1; "
                      "ulimit -Hn")
        lines = out.splitlines()
        assert lines[0].startswith("/sbin/docker-init -- sh -c"), out
        assert lines[1:4] == ["netadmin", "nochown", "readonly"], out
        assert lines[4].split()[1] == "16384" and lines[5] == "700", out   # hard: runc#4195
        compose("stop", "app")
        cid = compose("ps", "-a", "-q", "app")
        assert host.inspect(cid)["State"]["ExitCode"] == 5
    finally:
        compose("down")


def test_boxnet_cli_flags(host):
    """`boxnet run` takes the docker CLI's flags: --init, --read-only, --ulimit,
    --shm-size, --oom-score-adj, --device, --uts/--pid host (tini then a subreaper)."""
    r = host.cli("run", "--rm", "--init", "--read-only", "--ulimit", "nofile=100:200",
                 "--shm-size", "1m", "--oom-score-adj", "7", "--device", "/dev/null:/dev/x:rw",
                 "busybox", "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo; ulimit -n; "
                 "df -k /dev/shm | tail -1; cat /proc/self/oom_score_adj; "
                 "stat -c %t:%T /dev/x; touch /x 2>&1", check=False)
    lines = r.stdout.splitlines()
    assert lines[0].startswith("/sbin/docker-init -- sh -c"), r.stdout
    assert lines[1] == "100" and lines[2].split()[1] == "1024" and lines[3:5] == ["7", "1:3"]
    assert "Read-only file system" in lines[5], r.stdout
    r = host.cli("run", "--rm", "--init", "--pid", "host", "--uts", "host", "busybox",
                 "hostname", check=False)
    assert r.stdout.strip() == socket.gethostname() and "Tini is not running" not in r.stderr, \
        (r.stdout, r.stderr)


def test_dockerpy_process_options(host):
    """docker-py's spellings: cap_add, init, read_only, ulimits, shm_size, oom_score_adj."""
    dockerpy = pytest.importorskip("docker")
    cl = dockerpy.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
    try:
        out = cl.containers.run(
            "busybox", ["sh", "-c", "ip addr add 10.9.9.9/32 dev lo && tr '\\0' ' ' "
                        "< /proc/1/cmdline && echo && ulimit -n && df -k /dev/shm | tail -1 && "
                        "cat /proc/self/oom_score_adj && (touch /x 2>&1 || true)"],
            cap_add=["NET_ADMIN"], init=True, read_only=True, shm_size="32m",
            ulimits=[dockerpy.types.Ulimit(name="nofile", soft=512, hard=1024)],
            oom_score_adj=100, remove=True).decode()
        assert out.startswith("/sbin/docker-init -- sh -c"), out
        assert "\n512\n" in out and " 32768 " in out and "\n100\n" in out, out
        assert "Read-only file system" in out, out
        with pytest.raises(dockerpy.errors.APIError) as e:
            cl.containers.create("busybox", "true", cap_add=["NOT_A_CAP"])
        assert e.value.status_code == 400 and "NOT_A_CAP" in str(e.value)
    finally:
        cl.close()


def test_exec_gets_the_containers_options(docker):
    """An exec in a --cap-add NET_ADMIN container has NET_ADMIN (-u nobody: only in
    the bounding set, so it fails); its ulimits are the container's (the hard one:
    see below for the soft)."""
    ok(docker("run", "-d", "--name", "capx", "--cap-add", "NET_ADMIN", "--ulimit",
              "nofile=777:888", "--init", "busybox", "sleep", "600"))
    try:
        ok(docker("exec", "capx", "ip", "addr", "add", "10.9.9.8/32", "dev", "lo"))
        r = docker("exec", "-u", "nobody", "capx", "ip", "addr", "add", "10.9.9.7/32",
                   "dev", "lo")
        assert r.returncode != 0, r.stdout
        # the hard limit only: runc 1.1.5's `runc exec` races Go's start-up raise of
        # the soft NOFILE limit (opencontainers/runc#4195, fixed in runc 1.1.13)
        assert ok(docker("exec", "capx", "sh", "-c", "ulimit -Hn")) == "888"
    finally:
        docker("rm", "-f", "capx")


def test_exec_privileged(docker, host):
    """`docker exec --privileged` gets every capability (NET_ADMIN the container
    lacks); exec inspect says so; the container's own processes keep their set."""
    ok(docker("run", "-d", "--name", "plainx", "busybox", "sleep", "600"))
    try:
        cmd = ["ip", "addr", "add", "10.9.9.4/32", "dev", "lo"]
        r = docker("exec", "plainx", *cmd)
        assert r.returncode != 0 and "ermitted" in r.stderr, (r.stdout, r.stderr)
        ok(docker("exec", "--privileged", "plainx", *cmd))
        ex = host.api_ok("POST", "/containers/plainx/exec",
                         json={"Cmd": ["true"], "Privileged": True})["Id"]
        assert host.api_ok("GET", f"/exec/{ex}/json")["ProcessConfig"]["privileged"] is True
        assert ok(docker("exec", "plainx", "grep", "CapEff", "/proc/1/status")).split()[-1] \
            == "00000000a80425fb"
    finally:
        docker("rm", "-f", "plainx")


def test_rm_f_with_pid_host_leaves_no_process_nor_bundle(docker, host):
    """A --pid host container whose init left a child running (no PID namespace
    kills it): `rm -f` has runc kill the cgroup's processes before the root goes
    (runtime/oci.py takes its parallel path only for an empty cgroup), and nothing of
    the container is left on disk."""
    cid = ok(docker("run", "-d", "--pid", "host", "busybox", "sh", "-c",
                    "sleep 3107 & exec sleep 3108"))

    def child() -> list[str]:
        r = subprocess.run(["pgrep", "-f", "^sleep 3107$"], capture_output=True, text=True)
        return r.stdout.split()

    assert poll(child, "the init's child to run", timeout=10)
    assert list(host.dir.rglob(f"*{cid}*")), "control: the bundle is named by the id"
    ok(docker("rm", "-f", cid))
    assert poll(lambda: not child(), "the child to be killed", timeout=10)
    assert docker("inspect", cid).returncode != 0
    left = [str(p) for p in host.dir.rglob(f"*{cid}*")]
    assert not left, left
