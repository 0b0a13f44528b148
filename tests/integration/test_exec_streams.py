"""docker-py's exec_run in every stream/demux/tty/socket combination, exec
WorkingDir/Env/User, and attach with logs=1&stream=0, each checked on the bytes
a process in a real container wrote (issue 16 item 6)."""

from __future__ import annotations

import itertools
import socket as socketlib

import pytest

pytestmark = pytest.mark.kernel
docker = pytest.importorskip("docker", reason="docker-py is not installed")
SCRIPT = "echo out1; echo err1 >&2; echo out2; echo err2 >&2"


@pytest.fixture(scope="module")
def client(host):
    cl = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=120)
    yield cl
    cl.close()


@pytest.fixture(scope="module")
def box(client):
    c = client.containers.run("busybox", ["sleep", "600"], name="exec-streams", detach=True)
    yield c
    c.remove(force=True)


def _collect(out, demux: bool):
    """What exec_run's output holds, as (stdout, stderr) bytes (stderr None when merged)."""
    if demux:
        chunks = out if not isinstance(out, tuple) else [out]
        so, se = b"", b""
        for o, e in chunks:
            so += o or b""
            se += e or b""
        return so, se
    if isinstance(out, (bytes, bytearray)):
        return bytes(out), None
    return b"".join(out), None


@pytest.mark.parametrize("stream,demux,tty", list(itertools.product([False, True], repeat=3)))
def test_exec_run_combinations(box, stream, demux, tty):
    code, out = box.exec_run(["sh", "-c", SCRIPT], stream=stream, demux=demux, tty=tty)
    so, se = _collect(out, demux)
    if tty:
        # one terminal: both streams on stdout, with the terminal's CRLF
        assert so.replace(b"\r\n", b"\n") in (b"out1\nerr1\nout2\nerr2\n",
                                              b"out1\nout2\nerr1\nerr2\n") or \
            sorted(so.replace(b"\r\n", b"\n").split()) == [b"err1", b"err2", b"out1", b"out2"]
        assert not se
    elif demux:
        assert so == b"out1\nout2\n" and se == b"err1\nerr2\n", (so, se)
    else:
        assert sorted(so.split()) == [b"err1", b"err2", b"out1", b"out2"], so
    if stream:
        assert code is None
    else:
        assert code == 0


def test_exec_run_exit_code_and_options(box):
    code, out = box.exec_run(["sh", "-c", "exit 7"])
    assert code == 7
    code, out = box.exec_run(["sh", "-c", "pwd; echo $A; id -u"], workdir="/tmp",
                             environment={"A": "from-env"}, user="nobody")
    assert code == 0 and out.decode().split() == ["/tmp", "from-env", "65534"]
    code, out = box.exec_run(["sh", "-c", "echo only-err >&2"], stdout=False, stderr=True)
    assert out == b"only-err\n"
    code, out = box.exec_run(["sh", "-c", "echo only-out; echo e >&2"], stdout=True,
                             stderr=False)
    assert out == b"only-out\n"


@pytest.mark.parametrize("tty", [False, True])
def test_exec_run_socket_with_stdin(box, tty):
    sock = box.exec_run(["cat"], socket=True, stdin=True, tty=tty).output
    raw = sock._sock if hasattr(sock, "_sock") else sock
    raw.sendall(b"through the socket\n")
    raw.shutdown(socketlib.SHUT_WR) if not tty else raw.sendall(b"\x04")
    data = b""
    raw.settimeout(20)
    while True:
        try:
            chunk = raw.recv(65536)
        except socketlib.timeout:
            break
        if not chunk:
            break
        data += chunk
        if b"through the socket" in data.replace(b"\x01\x00\x00\x00", b"") and tty and \
                data.count(b"through the socket") >= 2:
            break
    raw.close()
    if tty:
        assert b"through the socket" in data
    else:
        # multiplexed: a stdout frame (type 1) carrying the line
        assert data[:1] == b"\x01" and data[8:] == b"through the socket\n", data


def test_attach_logs_without_stream_returns_the_logs_and_closes(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo l1; echo e1 >&2; echo l2; sleep 600"],
                              name="attach-logs", detach=True)
    try:
        import time
        deadline = time.monotonic() + 30
        while c.logs() .count(b"\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        t0 = time.monotonic()
        out = client.api.attach(c.id, stdout=True, stderr=True, stream=False, logs=True)
        assert time.monotonic() - t0 < 10   # it did not wait for the (running) container
        assert out.replace(b"\r", b"") in (b"l1\ne1\nl2\n", b"l1\nl2\ne1\n") or \
            sorted(out.split()) == [b"e1", b"l1", b"l2"], out
        out = client.api.attach(c.id, stdout=True, stderr=False, stream=False, logs=True)
        assert out == b"l1\nl2\n"
    finally:
        c.remove(force=True)


@pytest.mark.parametrize("keys,seq", [("ctrl-x", b"\x18"), (None, b"\x10\x11")])
def test_exec_detach_keys_leave_the_program_running(client, box, keys, seq):
    api = client.api
    ex = api.exec_create(box.id, ["sh"], stdin=True, tty=True, detach_keys=keys)
    if keys:
        assert api.exec_inspect(ex["Id"])["DetachKeys"] == keys
    sock = api.exec_start(ex["Id"], tty=True, socket=True)
    raw = sock._sock if hasattr(sock, "_sock") else sock
    raw.settimeout(20)
    tag = b"4242" if keys else b"4343"
    raw.sendall(b"echo marker-$((6*7)); exec sleep " + tag + b"\n")
    data = b""
    while b"marker-42" not in data:
        chunk = raw.recv(65536)
        assert chunk, data
        data += chunk
    raw.sendall(seq)
    while raw.recv(65536):   # the daemon ends the stream at the detach keys
        pass
    raw.close()
    assert api.exec_inspect(ex["Id"])["Running"] is True
    code, out = box.exec_run(["ps", "-o", "args"])
    assert b"sleep " + tag in out, out   # still running on its terminal


def test_bad_detach_keys_are_refused(client, box):
    with pytest.raises(docker.errors.APIError) as e:
        client.api.exec_create(box.id, ["sh"], tty=True, detach_keys="ctrl-")
    assert e.value.response.status_code == 400
