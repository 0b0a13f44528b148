"""Capabilities, init and process options (issue 16 item 3), seen from inside
real containers started by the real docker CLI and the boxnet CLI: CapAdd/CapDrop,
--init (tini as PID 1 reaping an orphan, forwarding signals, boxnetd --init),
--read-only, StopSignal (the image's too)/StopTimeout and stop's `signal`,
options kept across a daemon restart; bad input is a 400 that creates nothing.
Namespaces, limits, devices and the other clients: test_process_namespaces.py."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from integration.procdocker import DOCKER, docker, ok, poll  # noqa: F401 (docker: a fixture)

pytestmark = pytest.mark.kernel
if not os.path.exists(DOCKER):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)

# An orphan for PID 1: the subshell forks a short sleep and exits at once, so the
# sleep is reparented to PID 1 and becomes a zombie there unless PID 1 reaps it.
ORPHAN = "(sleep 0.3 &); exec sleep 600"


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


def _children(ppid: int, pidns: str = "") -> list[tuple[str, list[bytes]]]:
    """(state letter, first two argv words) of every host process whose parent is `ppid`
    (with ``pidns``, the /proc/PID/ns/pid link: of every process in that pid namespace)."""
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
        if pidns:
            try:
                if os.readlink(f"/proc/{d}/ns/pid") == pidns and int(d) != ppid:
                    out.append((status["State"][0], argv))
            except OSError:
                pass
        elif int(status["PPid"]) == ppid:
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
            # anywhere in the container: until the subshell exits the orphan is its
            # child, not yet PID 1's (a check of PID 1's children alone passed early)
            pidns = os.readlink(f"/proc/{pid1}/ns/pid")
            poll(lambda: not any(st in "RSD" and argv == [b"sleep", b"0.3"]
                                 for st, argv in _children(pid1, pidns)), "the orphan's end")
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
