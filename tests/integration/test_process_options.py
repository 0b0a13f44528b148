"""Capabilities, init and process options (issue 16 item 3), seen from inside
real containers started by the real docker CLI and docker-py: CapAdd/CapDrop,
--init (tini as PID 1 reaping an orphan, forwarding the stop signal),
--read-only, StopSignal/StopTimeout and stop's `signal`, UTS/PID/IPC/cgroup
namespace modes, --ulimit, --shm-size, --oom-score-adj, --privileged,
--device and --device-cgroup-rule; bad input is a 400 that creates nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
if not os.path.exists(DOCKER):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)

# An orphan for PID 1: the subshell forks a short sleep and exits at once, so the
# sleep is reparented to PID 1 and becomes a zombie there unless PID 1 reaps it.
ORPHAN = "(sleep 0.3 &); exec sleep 600"


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """run(*args) -> CompletedProcess of the docker CLI against the module's boxnetd."""
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CLI_HINTS="false",
               DOCKER_CONFIG=str(tmp_path_factory.mktemp("dockercfg")))

    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    return run


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r.stdout.strip()


def poll(fn, what: str, timeout: float = 30):
    """fn() until it returns a true value (or the deadline: AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_cap_add_net_admin(docker):
    """With NET_ADMIN (any spelling) `ip addr add` works; without it, EPERM."""
    cmd = ["busybox", "ip", "addr", "add", "10.9.9.9/32", "dev", "lo"]
    r = docker("run", "--rm", *cmd)
    assert r.returncode != 0 and "ermitted" in r.stderr, (r.stdout, r.stderr)
    for name in ("NET_ADMIN", "cap_net_admin"):
        ok(docker("run", "--rm", "--cap-add", name, *cmd))
    out = ok(docker("run", "--rm", "--cap-add", "ALL", "busybox", "sh", "-c",
                    "ip addr add 10.9.9.9/32 dev lo && grep CapEff /proc/self/status"))
    with open("/proc/self/status") as f:   # ALL: every capability boxnetd itself holds
        bounding = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    assert out.split()[-1] == bounding, out


def test_cap_drop_all_refuses_chown(docker):
    """--cap-drop ALL: chown fails; adding CHOWN back lets it work again."""
    script = "touch /tmp/f && chown 1:1 /tmp/f && echo chowned"
    assert ok(docker("run", "--rm", "busybox", "sh", "-c", script)) == "chowned"
    r = docker("run", "--rm", "--cap-drop", "ALL", "busybox", "sh", "-c", script)
    assert r.returncode != 0 and "chowned" not in r.stdout, (r.stdout, r.stderr)
    assert ok(docker("run", "--rm", "--cap-drop", "ALL", "--cap-add", "chown", "busybox",
                     "sh", "-c", script)) == "chowned"
    out = ok(docker("run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "CapEff",
                    "/proc/self/status"))
    assert out.split()[-1] == "0000000000000000", out


def _children(ppid: int) -> list[tuple[str, list[bytes]]]:
    """(state letter, first two argv words) of every host process whose parent is `ppid`."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                status = dict(line.split(":\t", 1) for line in f.read().splitlines()
                              if ":\t" in line)
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:2]
        except OSError:
            continue
        if int(status["PPid"]) == ppid:
            out.append((status["State"][0], argv))
    return out


def test_info_names_the_init(docker):
    """docker info shows the init binary, as with dockerd."""
    assert ok(docker("info", "--format", "{{.InitBinary}}")) == "docker-init"


def test_init_is_pid1_and_reaps_orphans(docker, host):
    """--init: /proc/1/cmdline is docker-init -- the command; an orphaned child
    is reaped by it (without --init the same script leaves a zombie under PID 1)."""
    out = ok(docker("run", "--rm", "--init", "busybox", "sh", "-c",
                    "tr '\\0' ' ' < /proc/1/cmdline"))
    assert out.startswith("/sbin/docker-init -- sh -c"), out
    main = [b"sleep", b"600"]
    for init in (False, True):
        name = "zomb-init" if init else "zomb-bare"
        ok(docker("run", "-d", "--name", name, *(["--init"] if init else []),
                  "busybox", "sh", "-c", ORPHAN))
        try:
            pid1 = host.inspect(name)["State"]["Pid"]

            def execed() -> bool:   # the subshell (and its fork of the orphan) is done
                if init:
                    return any(argv == main for _, argv in _children(pid1))
                with open(f"/proc/{pid1}/cmdline", "rb") as f:
                    return f.read().split(b"\0")[:2] == main
            poll(execed, "sh to exec sleep 600")
            poll(lambda: not any(st in "RSD" and argv == [b"sleep", b"0.3"]
                                 for st, argv in _children(pid1)), "the orphan's end")
            kids = _children(pid1)
            zombies = [k for k in kids if k[0] == "Z"]
            if init:
                assert not zombies and kids == [("S", main)], kids
            else:
                assert len(zombies) == 1, kids
        finally:
            docker("rm", "-f", name)


def test_read_only_rootfs(docker):
    """--read-only: a write to / fails; /dev/shm and /etc/hosts stay writable."""
    r = docker("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
    assert ok(docker("run", "--rm", "--read-only", "busybox", "sh", "-c",
                     "touch /dev/shm/x && echo 1.2.3.4 y >> /etc/hosts && echo ok")) == "ok"
    ok(docker("run", "--rm", "busybox", "touch", "/x"))


def test_stop_signal_reaches_a_trap(docker):
    """--stop-signal SIGUSR1 (also through --init): `docker stop` sends it, the
    trap runs; the stop query's `signal` overrides it."""
    trap = "trap 'echo got-$0; exit 3' USR1 USR2; while true; do sleep 0.1; done"
    for flags in ([], ["--init"]):
        ok(docker("run", "-d", "--name", "sigs", "--stop-signal", "SIGUSR1", *flags,
                  "busybox", "sh", "-c", trap.replace("$0", "usr"), ))
        try:
            poll(lambda: "running" in ok(docker("inspect", "-f", "{{.State.Status}}", "sigs")),
                 "running")
            ok(docker("stop", "sigs"))
            assert ok(docker("inspect", "-f", "{{.State.ExitCode}}", "sigs")) == "3"
            assert "got-usr" in ok(docker("logs", "sigs"))
            assert ok(docker("inspect", "-f", "{{.Config.StopSignal}}", "sigs")) == "SIGUSR1"
        finally:
            docker("rm", "-f", "sigs")


def test_stop_query_signal_and_stop_timeout(docker, host):
    """POST /stop?signal=SIGUSR2 overrides; --stop-timeout 1 kills a TERM-ignoring
    container after ~1 s (exit 137) instead of 10."""
    ok(docker("run", "-d", "--name", "sig2", "busybox", "sh", "-c",
              "trap 'echo got-usr2; exit 4' USR2; while true; do sleep 0.1; done"))
    try:
        host.api_ok("POST", "/containers/sig2/stop?signal=SIGUSR2")
        assert host.inspect("sig2")["State"]["ExitCode"] == 4
        assert "got-usr2" in ok(docker("logs", "sig2"))
    finally:
        docker("rm", "-f", "sig2")
    ok(docker("run", "-d", "--name", "deaf", "--stop-timeout", "1", "busybox", "sh", "-c",
              "trap '' TERM; while true; do sleep 0.1; done"))
    try:
        t0 = time.monotonic()
        ok(docker("stop", "deaf"))
        took = time.monotonic() - t0
        assert host.inspect("deaf")["State"]["ExitCode"] == 137
        assert took < 9.5, f"stop waited {took:.1f}s: StopTimeout 1 not used (the default is 10)"
    finally:
        docker("rm", "-f", "deaf")


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


@pytest.mark.parametrize("hc,message", [
    ({"CapAdd": ["NOPE"]}, "unknown capability: 'NOPE'"),
    ({"CapDrop": ["CAP_FLY"]}, "CapDrop: unknown capability"),
    ({"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 1}]}, "invalid ulimit type"),
    ({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]}, "soft limit 10"),
    ({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 2 ** 40}]}, "ulimit nofile"),
    ({"OomScoreAdj": 5000}, "OomScoreAdj"),
    ({"DeviceCgroupRules": ["x 1:3 rwm"]}, "DeviceCgroupRules"),
    ({"DeviceCgroupRules": ["c 1:3 rwq"]}, "DeviceCgroupRules"),
    ({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}]}, "device mode"),
    ({"Devices": [{"PathOnHost": "/etc/passwd"}]}, "not a device node"),
    ({"Devices": [{"PathOnHost": "/dev/no-such-device"}]}, "not a device node"),
    ({"PidMode": "sideways"}, "PidMode"),
    ({"CgroupnsMode": "shared"}, "CgroupnsMode"),
    ({"ShmSize": -1}, "ShmSize"),
])
def test_bad_input_is_400_and_creates_nothing(host, hc, message):
    """Each bad value: a 400 naming it, and no container."""
    before = len(host.api_ok("GET", "/containers/json?all=1"))
    status, body = host.api("POST", "/containers/create",
                            json={"Image": "busybox", "Cmd": ["true"], "HostConfig": hc})
    assert status == 400 and message in body["message"], body
    assert len(host.api_ok("GET", "/containers/json?all=1")) == before


def test_bad_stop_signal_and_hostname_conflict(host):
    """StopSignal must be a signal; a hostname with UTSMode host conflicts."""
    for body, message in (({"StopSignal": "SIGNOPE"}, "StopSignal"),
                          ({"Hostname": "h", "HostConfig": {"UTSMode": "host"}}, "UTS mode")):
        status, got = host.api("POST", "/containers/create",
                               json={"Image": "busybox", "Cmd": ["true"], **body})
        assert status == 400 and message in got["message"], got
    status, got = host.api("POST", "/containers/create?name=sx",
                           json={"Image": "busybox", "Cmd": ["sleep", "60"]})
    assert status == 201
    try:
        status, got = host.api("POST", "/containers/sx/stop?signal=SIGNOPE")
        assert status == 400 and "signal" in got["message"], got
    finally:
        host.api("DELETE", "/containers/sx?force=1")


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


def test_daemon_init_flag(make_host):
    """boxnetd --init: containers get the init unless they say Init false."""
    h = make_host("--init")
    r = h.cli("run", "--rm", "busybox", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline")
    assert r.stdout.startswith("/sbin/docker-init -- sh -c"), r.stdout
    cid = h.api_ok("POST", "/containers/create", json={
        "Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"Init": False}})["Id"]
    try:
        h.api_ok("POST", f"/containers/{cid}/start")
        pid = h.inspect(cid)["State"]["Pid"]

        def argv() -> list[bytes]:   # runc init until it execs the command
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                got = f.read().split(b"\0")[:2]
            return [] if got[0].endswith(b"runc") and got[1:] == [b"init"] else got
        assert poll(argv, "the exec of the command") == [b"sleep", b"60"]
    finally:
        h.api("DELETE", f"/containers/{cid}?force=1")


def test_init_with_the_read_only_host_image_is_refused(docker):
    """boxnet/host's root is the host's read-only '/': --init is a clear error there."""
    r = docker("run", "--rm", "--init", "boxnet/host", "true")
    assert r.returncode != 0 and "read-only root" in r.stderr, r.stderr


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


def test_image_stop_signal(docker, tmp_path):
    """An image's STOPSIGNAL (docker import --change) is what `docker stop` sends;
    the container's --stop-signal wins over it; a bad one is refused at import."""
    import tarfile
    tar = tmp_path / "root.tar"
    with tarfile.open(tar, "w") as t:
        t.add(shutil.which("busybox") or "/bin/busybox", arcname="bin/busybox")
        for name in ("sh", "sleep"):
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            t.addfile(link)
    trap = ("trap 'exit 10' USR1; trap 'exit 12' USR2; "
            "while true; do sleep 0.1; done")
    ok(docker("import", "--change", "STOPSIGNAL SIGUSR1", "--change",
              f'CMD ["/bin/sh", "-c", "{trap}"]', str(tar), "bxt-stopsig"))
    try:
        assert ok(docker("image", "inspect", "-f", "{{.Config.StopSignal}}",
                         "bxt-stopsig")) == "SIGUSR1"
        for flags, code in (([], "10"), (["--stop-signal", "USR2"], "12")):
            ok(docker("run", "-d", "--name", "isig", *flags, "bxt-stopsig"))
            try:
                poll(lambda: ok(docker("inspect", "-f", "{{.State.Running}}", "isig")) == "true",
                     "running")
                ok(docker("stop", "isig"))
                assert ok(docker("inspect", "-f", "{{.State.ExitCode}}", "isig")) == code, flags
            finally:
                docker("rm", "-f", "isig")
        r = docker("import", "--change", "STOPSIGNAL SIGNOPE", str(tar), "bxt-badsig")
        assert r.returncode != 0 and "STOPSIGNAL" in r.stderr, r.stderr
    finally:
        docker("rmi", "bxt-stopsig")


def test_init_forwards_sigterm(docker):
    """`docker stop` of `sleep` as PID 1 ends in SIGKILL (PID 1 ignores SIGTERM it
    has no handler for: exit 137); under --init tini forwards SIGTERM to it (143)."""
    for flags, code in (([], "137"), (["--init"], "143")):
        ok(docker("run", "-d", "--name", "fwd", *flags, "busybox", "sleep", "600"))
        try:
            ok(docker("stop", "-t", "2", "fwd"))
            assert ok(docker("inspect", "-f", "{{.State.ExitCode}}", "fwd")) == code, flags
        finally:
            docker("rm", "-f", "fwd")


def test_options_survive_a_daemon_restart(make_host):
    """A container adopted after boxnetd restarts keeps its options: stop sends its
    StopSignal through its init, and its next start has the same capabilities."""
    h = make_host()
    h.cli("run", "-d", "--name", "keep", "--init", "--stop-signal", "USR1",
          "--cap-add", "NET_ADMIN", "busybox", "sh", "-c",
          "trap 'exit 6' USR1; ip addr add 10.9.9.5/32 dev lo && "
          "while true; do sleep 0.1; done")
    try:
        poll(lambda: h.inspect("keep")["State"]["Running"], "running")
        h.restart()
        h.cli("stop", "keep")
        assert h.inspect("keep")["State"]["ExitCode"] == 6
        h.cli("start", "keep")
        poll(lambda: h.inspect("keep")["State"]["Running"], "running again")
        h.cli("stop", "keep")
        assert h.inspect("keep")["State"]["ExitCode"] == 6   # the ip addr add worked again
    finally:
        h.cli("rm", "-f", "keep", check=False)
