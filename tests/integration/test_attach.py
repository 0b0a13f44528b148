"""Attach and stdin with the real docker CLI and docker-py: EOF on stdin
(StdinOnce), attach to a running container (tty and not, detach keys),
clients that vanish mid-stream, and re-attach to a TTY container after a
daemon restart (its terminal is held by the container's shim)."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import time

import pytest

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


class Term:
    """A docker CLI command on a real pty, driven like a user at a terminal."""

    def __init__(self, env: dict, *args: str):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([DOCKER, *args], env=env, stdin=slave, stdout=slave,
                                     stderr=slave, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def type(self, data: bytes) -> None:
        """Keystrokes."""
        os.write(self.master, data)

    def expect(self, needle: bytes, timeout: float = 15) -> bytes:
        """Read until `needle` has appeared (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not seen; got {self.seen[-500:]!r}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:   # EIO: the command ended
                    assert needle in self.seen, f"{needle!r} not seen; got {self.seen!r}"
        return self.seen

    def wait(self, timeout: float = 15) -> int:
        """The command's exit code."""
        try:
            return self.proc.wait(timeout)
        finally:
            os.close(self.master)


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """run(*args, input=...) -> CompletedProcess of the CLI against the module's daemon."""
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CLI_HINTS="false",
               DOCKER_CONFIG=str(tmp_path_factory.mktemp("dockercfg")))

    def run(*args: str, input: bytes | None = None, check: bool = True, timeout: float = 60):
        r = subprocess.run([DOCKER, *args], env=env, input=input, capture_output=True,
                           timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
        assert not check or r.returncode == 0, f"docker {args} -> {r.returncode}: {r.stderr!r}"
        return r
    run.env = env
    return run


def _running(host, name: str) -> bool:
    return host.inspect(name)["State"]["Running"]


def test_stdin_eof_ends_run_i(docker):
    """`echo hi | docker run -i --rm busybox cat` prints hi and exits 0; a big
    input arrives whole (the container reads EOF after the last byte)."""
    r = docker("run", "-i", "--rm", "busybox", "cat", input=b"hi\n", timeout=30)
    assert (r.returncode, r.stdout) == (0, b"hi\n")
    blob = os.urandom(300_000)
    r = docker("run", "-i", "--rm", "busybox", "md5sum", input=blob, timeout=30)
    import hashlib
    assert r.stdout.split()[0].decode() == hashlib.md5(blob).hexdigest()
    r = docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat; exit 3", input=b"x", check=False)
    assert (r.returncode, r.stdout) == (3, b"x")


def test_attach_running_tty_and_detach(docker, host):
    """`docker attach` to a running -itd container: output, input, resize,
    ctrl-p ctrl-q detaches and the container keeps running."""
    docker("run", "-itd", "--name", "at-tty", "busybox", "sh")
    t = Term(docker.env, "attach", "at-tty")
    time.sleep(0.5)
    t.type(b"echo sum=$((6*7)); stty size\r")
    t.expect(b"sum=42")
    t.type(b"\x10\x11")
    t.expect(b"read escape sequence")   # the CLI's message (and its exit code 1)
    t.wait()
    assert _running(host, "at-tty")
    # A second attach works too, and exiting the shell ends it with its code.
    t = Term(docker.env, "attach", "at-tty")
    time.sleep(0.5)
    t.type(b"exit 6\r")
    assert t.wait() == 6
    docker("rm", "-f", "at-tty")


def test_attach_running_non_tty_dockerpy(host):
    """docker-py attach_socket on a running -di container: input forwarded,
    output streamed; closing the socket does not close its stdin (no StdinOnce)."""
    dockerpy = pytest.importorskip("docker")
    cl = dockerpy.DockerClient(base_url=host.host_uri, version="auto", timeout=30)
    try:
        c = cl.containers.run("busybox", ["sh", "-c", "while read l; do echo got:$l; done"],
                              stdin_open=True, detach=True, name="at-pipe")
        for word in (b"one", b"two"):
            s = c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
            s._sock.sendall(word + b"\n")
            s._sock.settimeout(10)
            got = b""
            while b"got:" + word not in got:
                chunk = s._sock.recv(4096)
                assert chunk, f"stream ended; got {got!r}"
                got += chunk
            s._sock.close()
            s.close()
        c.reload()
        assert c.status == "running"
        assert c.logs() == b"got:one\ngot:two\n"
        c.remove(force=True)
    finally:
        cl.close()


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_disconnects_leave_nothing(docker, host):
    """Clients killed mid-stream (logs -f, attach, events, exec -it, run -i):
    the daemon's fd count comes back and the container keeps running."""
    docker("run", "-itd", "--name", "dc-tty", "busybox", "sh")
    docker("run", "-di", "--name", "dc-pipe", "busybox", "cat")
    pid = host.proc.pid
    base = _fd_count(pid)
    cmds = [("logs", "-f", "dc-tty"), ("attach", "dc-tty"), ("attach", "dc-pipe"),
            ("events",), ("exec", "-it", "dc-tty", "sh"), ("exec", "-i", "dc-pipe", "cat")]
    leaked = {}
    for cmd in cmds:
        for _ in range(3):
            t = Term(docker.env, *cmd)
            time.sleep(0.7)
            t.proc.kill()
            t.wait()
        deadline = time.monotonic() + 10
        while _fd_count(pid) > base and time.monotonic() < deadline:
            time.sleep(0.2)
        if _fd_count(pid) > base:
            leaked[" ".join(cmd)] = sorted(os.readlink(f"/proc/{pid}/fd/{f}")
                                           for f in os.listdir(f"/proc/{pid}/fd"))
            base = _fd_count(pid)
    assert not leaked, leaked
    assert _running(host, "dc-tty") and _running(host, "dc-pipe")
    docker("rm", "-f", "dc-tty", "dc-pipe")


def test_tty_reattach_after_daemon_restart(docker, host):
    """A -itd container's terminal survives a daemon restart (held by its
    shim): attach, type, resize after the restart; -di stdin stays open too."""
    docker("run", "-itd", "--name", "rs-tty", "busybox", "sh")
    docker("run", "-di", "--name", "rs-pipe", "busybox", "sh", "-c",
           "while read l; do echo got:$l; done")
    host.restart()
    assert _running(host, "rs-tty") and _running(host, "rs-pipe")
    t = Term(docker.env, "attach", "rs-tty")
    time.sleep(0.5)
    t.type(b"echo after=$((5*5))\r")
    t.expect(b"after=25")
    st, _ = host.api("POST", "/containers/rs-tty/resize?h=33&w=99")
    assert st == 200
    t.type(b"stty size\r")
    t.expect(b"33 99")
    t.type(b"\x10\x11")
    t.expect(b"read escape sequence")
    t.wait()
    assert _running(host, "rs-tty")
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(host.sock))
    s.sendall(b"POST /v1.50/containers/rs-pipe/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n"
              b"Host: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
    s.settimeout(10)
    got = b""
    while b"\r\n\r\n" not in got:   # clients send stdin after the 101, as docker does
        got += s.recv(4096)
    s.sendall(b"again\n")
    while b"got:again" not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    s.close()
    docker("rm", "-f", "rs-tty", "rs-pipe")
    # the shims ended with their containers
    assert not os.listdir(host.data_root / "runtime" / "shim")


def test_run_it_sees_early_output(docker):
    """`docker run -t` shows output printed before the client connected."""
    t = Term(docker.env, "run", "-t", "--rm", "busybox", "echo", "early-bird")
    t.expect(b"early-bird")
    assert t.wait() == 0
