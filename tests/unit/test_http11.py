"""client/http11.py under the Engine API client: kept-alive connections, chunked and
length-less bodies, HEAD; a kept-alive connection the server closed while idle (dropped
before use: the request goes once, on a new one), or that fails once a request is on it
(an idempotent one is sent again, a POST is not), a fresh one that fails (not sent
again); error bodies, threads."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from boxnet.client import http11
from boxnet.client.engine import Client
from boxnet.client.errors import APIError, ConnectError


class Server:
    """A unix-socket HTTP/1.1 server run by a thread per connection; `answer(conn_no,
    method, target, body)` returns the raw answer bytes, or None to close silently."""

    def __init__(self, path: str, answer):
        self.answer = answer
        self.connections = 0
        self.closed = 0   # connections this side has closed
        self.requests: list[tuple[int, str, str, bytes]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c, self.connections),
                             daemon=True).start()

    def _serve(self, c: socket.socket, n: int) -> None:
        try:
            self._loop(c, n)
        finally:
            c.close()
            self.closed += 1

    def _loop(self, c: socket.socket, n: int) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = c.recv(65536)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, target, _ = lines[0].split(" ")
            hdrs = dict(x.lower().split(": ", 1) for x in lines[1:])
            size = int(hdrs.get("content-length", 0))
            while len(buf) < size:
                buf += c.recv(65536)
            body, buf = buf[:size], buf[size:]
            self.requests.append((n, method, target, body))
            out = self.answer(n, method, target, body)
            if out is None:
                return
            if method == "HEAD":   # an answer to HEAD has headers only
                out = out.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
            c.sendall(out)
            if out.startswith(b"HTTP/1.0") or b"\r\nX-Then-Close: 1\r\n" in out:
                return   # the body ran to EOF, or the test closes it while idle

    def close(self) -> None:
        self.sock.close()


def ok(body: bytes = b"{}", extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.50\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(answer) -> tuple[Server, Client]:
        path = str(tmp_path / f"s{len(servers)}.sock")
        s = Server(path, answer)
        servers.append(s)
        return s, Client(f"unix://{path}")
    yield start
    for s in servers:
        s.close()


def test_calls_share_one_kept_alive_connection(serve):
    s, c = serve(lambda n, m, t, b: ok(json.dumps({"t": t, "m": m, "b": b.decode()}).encode()))
    assert c.get("/info")["t"] == "/v1.50/info"   # negotiated from the ping's header
    assert c.post("/x", {"a": 1}, q="v w")["b"] == '{"a": 1}'
    assert c.delete("/y", force=True)["t"] == "/v1.50/y?force=1"
    assert s.connections == 1
    assert [r[1] for r in s.requests] == ["HEAD", "GET", "POST", "DELETE"]
    assert s.requests[2][2] == "/v1.50/x?q=v+w"


def test_chunked_and_length_less_bodies(serve):
    def answer(n, m, t, b):
        if m == "HEAD":
            return ok()
        if t.endswith("/chunked"):
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"4;ext=1\r\n{\"a\"\r\n5\r\n: [1,\r\n2\r\n2]\r\n1\r\n}\r\n0\r\nX-T: 1\r\n\r\n")
        return b"HTTP/1.0 200 OK\r\n\r\n[\"to eof\"]"
    s, c = serve(answer)
    assert c.get("/chunked") == {"a": [1, 2]}
    assert c.get("/chunked") == {"a": [1, 2]}
    assert s.connections == 1
    assert c.get("/eof") == ["to eof"]   # HTTP/1.0, no length: read to EOF, not reused
    assert c.get("/chunked") == {"a": [1, 2]}
    assert s.connections == 2


def test_head_and_no_content_answers_have_no_body(serve):
    # the ping's answer says Content-Length: 2 and (as HEAD) sends none: not waited for
    s, c = serve(lambda n, m, t, b: ok(b"{}") if m == "HEAD" or t.endswith("/z") else
                 b"HTTP/1.1 204 No Content\r\n\r\n")
    assert c.post("/containers/x/start") is None and c.get("/204") is None
    assert c.get("/z") == {} and s.connections == 1
    assert s.requests[1][3] == b""   # POST without a body: Content-Length: 0


def test_an_idle_connection_the_server_closed_is_sent_again_once(serve):
    # connection 1 answers the ping and /a, then closes at the next request without a
    # word (as at a keep-alive timeout): /b is sent again on connection 2
    s, c = serve(lambda n, m, t, b: None if n == 1 and t.endswith("/b") else
                 ok(b'{"n": %d}' % n))
    assert c.get("/a") == {"n": 1}
    assert c.get("/b") == {"n": 2}
    assert c.get("/c") == {"n": 2}
    assert [r[2] for r in s.requests] == ["/_ping", "/v1.50/a", "/v1.50/b", "/v1.50/b",
                                          "/v1.50/c"]
    assert s.connections == 2


def test_a_post_the_server_may_have_seen_is_not_sent_again(serve):
    # every connection answers the ping, then reads a POST and closes without answering
    s, c = serve(lambda n, m, t, b: ok(b"") if m == "HEAD" else None)
    c.api_version
    with pytest.raises(OSError):
        c.post("/containers/create", {"Image": "x"})   # on the kept-alive connection
    with pytest.raises(OSError):
        c.post("/containers/create", {"Image": "x"})   # on a fresh one
    creates = [r for r in s.requests if r[2].endswith("/containers/create")]
    assert len(creates) == 2 and s.connections == 2


def test_a_connection_closed_while_idle_is_dropped_before_use(serve):
    import time
    s, c = serve(lambda n, m, t, b: ok(b'{"n": %d}' % n, "X-Then-Close: 1\r\n"
                                       if t.endswith("/a") else ""))
    assert c.get("/a") == {"n": 1}   # the server closes connection 1 after this answer
    deadline = time.monotonic() + 10
    while not s.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.closed == 1
    assert c.post("/containers/create", {"Image": "x"}) == {"n": 2}
    assert [r[2] for r in s.requests] == ["/_ping", "/v1.50/a", "/v1.50/containers/create"]


def test_errors_keep_the_daemons_message(serve):
    s, c = serve(lambda n, m, t, b: ok(b"") if m == "HEAD" else
                 (b'HTTP/1.1 404 Not Found\r\nContent-Length: 25\r\n\r\n{"message": "no such x"}\n'
                  if t.endswith("/x") else b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"))
    with pytest.raises(APIError) as e:
        c.get("/x")
    assert (e.value.status, e.value.message) == (404, "no such x")
    with pytest.raises(APIError) as e:
        c.get("/y")
    assert (e.value.status, e.value.message) == (500, "500 Internal Server Error")
    assert s.connections == 1


def test_not_http_is_an_error(serve):
    s, c = serve(lambda n, m, t, b: ok(b"") if m == "HEAD" else b"SSH-2.0-nope\r\n\r\n")
    with pytest.raises(http11.HTTPParseError):
        c.get("/x")


def test_no_daemon_is_a_connect_error(tmp_path):
    with pytest.raises(ConnectError, match="Cannot connect"):
        Client(f"unix://{tmp_path}/none.sock").get("/info")


def test_threads_each_get_a_connection(serve):
    gate = threading.Barrier(2, timeout=10)

    def answer(n, m, t, b):
        if t.endswith("/wait"):
            gate.wait()
        return ok(b'{"ok": true}')
    s, c = serve(answer)
    c.api_version
    out = []
    ts = [threading.Thread(target=lambda: out.append(c.get("/wait"))) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert out == [{"ok": True}] * 2 and s.connections == 2
    assert c.get("/again") == {"ok": True} and s.connections == 2   # reused afterwards


def test_the_idle_check_sees_closed_and_out_of_step_connections(tmp_path):
    path = str(tmp_path / "raw.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    try:
        conns = []
        for _ in range(3):
            conns.append(http11._Conn(path, None))
            conns[-1].peer = srv.accept()[0]
        quiet, closed, chatty = conns
        closed.peer.close()
        chatty.peer.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        assert quiet.idle_and_open() and quiet.sock.gettimeout() is None
        assert not closed.idle_and_open() and not chatty.idle_and_open()
        for c in conns:
            c.close()
            c.peer.close()
    finally:
        srv.close()
