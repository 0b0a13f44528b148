"""`boxnet compose` process options seen from inside the container: ulimits, user,
working_dir, shm_size, cap_drop, pid: host, the memory limit of
deploy.resources.limits (an allocator past it is OOM-killed), and stop_signal (the
service's trap sees SIGINT at `stop`).
Each needs the engine to honour the field (other engineers' work): a field the engine
still refuses makes the test skip, naming it."""

from __future__ import annotations

import textwrap
import time
import uuid

import pytest

pytestmark = pytest.mark.kernel


def engine_refuses(h, hostconfig: dict, config: dict | None = None) -> str | None:
    name = "probe-" + uuid.uuid4().hex[:8]
    body = {"Image": "busybox", "Cmd": ["true"], **(config or {}), "HostConfig": hostconfig}
    status, msg = h.api("POST", f"/containers/create?name={name}", json=body)
    h.api("DELETE", f"/containers/{name}?force=1")
    return None if status == 201 else f"{status} {msg}"


def test_process_options_inside(host, tmp_path):
    h = host
    why = engine_refuses(h, {"Ulimits": [{"Name": "nofile", "Soft": 1000, "Hard": 1000}],
                             "ShmSize": 16 << 20, "CapDrop": ["NET_RAW"], "Memory": 64 << 20},
                         {"User": "1000:1000", "WorkingDir": "/tmp"})
    if why:
        pytest.skip(f"the engine refuses a process option: {why}")
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent("""
        name: proc
        services:
          a:
            image: busybox
            command: ["sleep", "600"]
            user: "1000:1000"
            working_dir: /tmp
            ulimits: {nofile: {soft: 1000, hard: 1000}}
            shm_size: 16m
            cap_drop: [NET_RAW]
            deploy: {resources: {limits: {memory: 64m}}}
        """))
    h.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        c = "proc-a-1"
        assert h.exec(c, "sh", "-c", "ulimit -n").stdout.strip() == "1000"
        assert h.exec(c, "id", "-u").stdout.strip() == "1000"
        assert h.exec(c, "pwd").stdout.strip() == "/tmp"
        df = h.exec(c, "df", "-k", "/dev/shm").stdout.splitlines()[-1].split()
        assert df[1] == "16384", df
        r = h.exec(c, "ping", "-c1", "-W1", "127.0.0.1")
        assert r.returncode != 0, "ping worked without NET_RAW"
        assert h.inspect(c)["HostConfig"]["Memory"] == 64 << 20
    finally:
        h.cli("compose", "-f", str(f), "down", "-t", "0", check=False, timeout=120)


def test_memory_limit_kills_an_allocator(host, tmp_path):
    """deploy.resources.limits.memory: `tail /dev/zero` (it buffers a line that never
    ends) is OOM-killed at the limit: exit 137, OOMKilled in inspect."""
    h = host
    why = engine_refuses(h, {"Memory": 32 << 20, "MemorySwap": 32 << 20})
    if why:
        pytest.skip(f"the engine refuses a memory limit: {why}")
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent("""
        name: oom
        services:
          hog:
            image: busybox
            command: ["tail", "/dev/zero"]
            memswap_limit: 32m
            deploy: {resources: {limits: {memory: 32m}}}
        """))
    h.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        deadline = time.monotonic() + 60
        st = h.inspect("oom-hog-1")["State"]
        while st["Running"] and time.monotonic() < deadline:
            time.sleep(0.2)
            st = h.inspect("oom-hog-1")["State"]
        assert not st["Running"], "the allocator outlived its memory limit"
        assert st["OOMKilled"] is True and st["ExitCode"] == 137, st
    finally:
        h.cli("compose", "-f", str(f), "down", "-t", "0", check=False, timeout=120)


def test_pid_host(host, tmp_path):
    h = host
    why = engine_refuses(h, {"PidMode": "host"})
    if why:
        pytest.skip(f"the engine refuses PidMode host: {why}")
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent("""
        name: pidh
        services:
          a: {image: busybox, command: ["sleep", "600"], pid: host}
        """))
    h.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        comm = h.exec("pidh-a-1", "cat", "/proc/1/comm").stdout.strip()
        assert comm != "sleep", "PID 1 is the container's own process: not the host's PIDs"
    finally:
        h.cli("compose", "-f", str(f), "down", "-t", "0", check=False, timeout=120)


def test_stop_signal(host, tmp_path):
    """stop_signal: SIGINT reaches the service's trap at `compose stop` (a SIGTERM
    would not run it: the trap is for INT only, and TERM as PID 1 is ignored)."""
    h = host
    why = engine_refuses(h, {}, {"StopSignal": "SIGINT", "StopTimeout": 5})
    if why:
        pytest.skip(f"the engine refuses StopSignal/StopTimeout: {why}")
    out = tmp_path / "out"
    out.mkdir()
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent("""
        name: sig
        services:
          a:
            image: busybox
            command: ["sh", "-c", "trap 'echo got-INT > /out/sig; exit 0' INT; echo up > /out/up; while :; do sleep 0.1; done"]
            stop_signal: SIGINT
            stop_grace_period: 5s
            volumes: ["./out:/out"]
        """))
    h.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        deadline = time.monotonic() + 20
        while not (out / "up").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (out / "up").exists(), "the service never started its loop"
        assert h.inspect("sig-a-1")["Config"]["StopSignal"] == "SIGINT"
        h.cli("compose", "-f", str(f), "stop", timeout=120)
        assert (out / "sig").read_text() == "got-INT\n"
        assert h.inspect("sig-a-1")["State"]["ExitCode"] == 0
    finally:
        h.cli("compose", "-f", str(f), "down", "-t", "0", check=False, timeout=120)
