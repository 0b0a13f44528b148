"""An exec whose client goes away during its start (brief L item 4): the exec's
end is recorded whatever the client did. Over a raw unix socket the test sends
POST /exec/{id}/start (attached, and detached, with and without a TTY) and
closes the socket at once, without reading; GET /exec/{id}/json must then
reach Running false with an ExitCode, and the exec's process is gone from the
container (its process list), never left running unwatched."""

from __future__ import annotations

import json
import socket
import time

import pytest

pytestmark = pytest.mark.kernel


def _create(host, name: str, cmd: list[str], tty: bool = False) -> str:
    """POST /containers/{name}/exec; the exec's id."""
    body = host.api_ok("POST", f"/containers/{name}/exec", json={
        "Cmd": cmd, "AttachStdout": True, "AttachStderr": True, "Tty": tty}, ok=(201,))
    return body["Id"]


def _start_and_hang_up(host, exec_id: str, detach: bool, tty: bool,
                       linger: float = 0.0) -> None:
    """Send the start request as the docker CLI does (Upgrade: tcp) and close the
    socket right after the request (or after `linger` s), reading nothing."""
    body = json.dumps({"Detach": detach, "Tty": tty}).encode()
    req = (f"POST /v1.50/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
           f"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(host.sock))
        s.sendall(req)
        if linger:
            time.sleep(linger)
    finally:
        s.close()


def _ended(host, exec_id: str, timeout: float = 30.0) -> dict:
    """Poll exec inspect until Running is false with an ExitCode."""
    end = time.monotonic() + timeout
    while True:
        st, body = host.api("GET", f"/exec/{exec_id}/json")
        assert st == 200, body
        if not body["Running"] and body["ExitCode"] is not None:
            return body
        if time.monotonic() > end:
            pytest.fail(f"exec {exec_id[:12]} never recorded its end: {body}")
        time.sleep(0.2)


def _procs(host, name: str) -> str:
    """The container's process list (`ps -o args` inside it)."""
    return host.exec(name, "ps", "-o", "args", check=True).stdout


@pytest.fixture(scope="module")
def box(host):
    """A running busybox container."""
    host.cli("run", "-d", "--name", "xd", "busybox", "sleep", "3600")
    yield "xd"
    host.cli("rm", "-f", "xd", check=False)


@pytest.mark.parametrize("tty", [False, True])
def test_an_attached_exec_whose_client_hangs_up_at_once_records_its_end(host, box, tty):
    """Attached start, the socket closed at once (ten times, to hit every moment of
    the start): each exec ends (the client left: killed, as dockerd) with an
    ExitCode and Running false, and none is left in the container."""
    ids = []
    for i in range(10):
        ex = _create(host, box, ["sleep", "987"], tty=tty)
        _start_and_hang_up(host, ex, detach=False, tty=tty, linger=0.02 * (i % 3))
        ids.append(ex)
    for ex in ids:
        body = _ended(host, ex)
        assert isinstance(body["ExitCode"], int), body
        if not tty:
            assert body["ExitCode"] == 137, body   # SIGKILL, as dockerd's
    left = time.monotonic() + 10   # the kill's exit is recorded before ps sees it gone
    while "sleep 987" in _procs(host, box):
        assert time.monotonic() < left, _procs(host, box)
        time.sleep(0.2)


def test_a_detached_exec_whose_client_hangs_up_runs_to_its_end(host, box):
    """A detached start (`exec -d`), the socket closed at once: the exec runs on
    (it is detached), wrote its file, and its ExitCode 7 is recorded."""
    ex = _create(host, box, ["sh", "-c", "sleep 1; echo done > /tmp/xd-done; exit 7"])
    _start_and_hang_up(host, ex, detach=True, tty=False)
    body = _ended(host, ex)
    assert body["ExitCode"] == 7, body
    assert host.exec(box, "cat", "/tmp/xd-done", check=True).stdout.strip() == "done"
