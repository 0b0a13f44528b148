"""Live API streams and small protocol points the Docker clients rely on, over the real
unix socket: /events delivers an event that happens after the client subscribed (what
compose waits on), an exec's TTY starts at the ConsoleSize the client sent (the docker
CLI sends its terminal's) and is resized through POST /exec/{id}/resize while it runs,
and an unknown endpoint answers 404 in Docker's {"message": ...} shape."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse

import pytest

from integration.harness import UnixHTTPConnection

pytestmark = pytest.mark.kernel


def test_events_stream_delivers_later_events(host):
    filters = urllib.parse.quote(json.dumps({"type": ["network"], "event": ["create"]}))
    conn = UnixHTTPConnection(str(host.sock), timeout=15)
    conn.request("GET", f"/v1.50/events?filters={filters}")
    resp = conn.getresponse()
    assert resp.status == 200
    timer = threading.Timer(0.5, lambda: host.cli("network", "create", "ev-late"))
    timer.start()
    try:
        line = resp.readline()
        event = json.loads(line)
        assert (event["Type"], event["Action"]) == ("network", "create"), event
        assert event["Actor"]["Attributes"]["name"] == "ev-late", event
        assert event["time"] >= int(time.time()) - 5
    finally:
        timer.join()
        conn.close()
        host.cli("network", "rm", "ev-late")


def test_exec_tty_resize(host):
    host.cli("run", "-d", "--name", "rs-tty", "busybox", "sleep", "600")
    st, ex = host.api("POST", "/containers/rs-tty/exec", json={
        "Cmd": ["sh", "-c", "sleep 0.5; stty size; sleep 1.5; stty size"], "Tty": True,
        "AttachStdout": True, "AttachStderr": True, "ConsoleSize": [30, 90]})
    assert st == 201, ex
    body = json.dumps({"Detach": False, "Tty": True}).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(str(host.sock))
    s.sendall(b"POST /v1.50/exec/" + ex["Id"].encode() + b"/start HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    assert data.split(b" ", 2)[1] in (b"101", b"200"), data
    time.sleep(1.0)
    st, reply = host.api("POST", f"/exec/{ex['Id']}/resize?h=40&w=100")
    assert st in (200, 201), reply
    out = data.split(b"\r\n\r\n", 1)[1]
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    s.close()
    assert out.replace(b"\r", b"").split() == [b"30", b"90", b"40", b"100"], out
    st, reply = host.api("POST", "/containers/rs-tty/exec", json={
        "Cmd": ["true"], "Tty": True, "ConsoleSize": [30]})
    assert st == 400 and "ConsoleSize" in reply["message"], reply
    st, reply = host.api("POST", "/exec/nope/resize?h=1&w=1")
    assert st == 404 and "nope" in reply["message"], reply
    host.cli("rm", "-f", "rs-tty")


def test_unknown_endpoint_is_docker_404(host):
    for path in ("/v1.50/no/such/thing", "/containers/x/teleport"):
        st, reply = host.api("GET", path)
        assert st == 404 and isinstance(reply, dict), (path, st, reply)
        assert reply["message"].startswith("page not found"), reply
