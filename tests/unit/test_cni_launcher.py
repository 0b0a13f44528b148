"""cni/launcher.py, the Python CNI launcher: its JSON top-level scanner, the request it
builds, the answers it maps, and what an installed launcher imports at start-up.

The end-to-end behaviour (containerd's ctr run --cni, bad input, boxnetd down) is in
tests/integration/test_cni.py; here a stand-in server on a unix socket answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from boxnet.cni import launcher as L
from boxnet.cni.config import version_answer
from boxnet.cni.main import install_launcher


def test_version_answer_is_config_s():
    assert json.loads(L.VERSION_ANSWER) == version_answer()


@pytest.mark.parametrize("raw,want", [
    (b'{"socket":"/run/a.sock"}', b"/run/a.sock"),
    (b'{ "name" : "x",\n  "socket" :\t"/run/a.sock" }', b"/run/a.sock"),
    (b'{"args":{"socket":"/nested"},"name":"n"}', None),           # nested: not taken
    (b'{"args":{"socket":"/nested"},"socket":"/top"}', b"/top"),
    (b'{"name":"\\"socket\\":\\"/in-a-string\\""}', None),          # inside a value
    (b'{"name":"socket","x":["socket"]}', None),                   # values, not keys
    (b'{"socket":"/a","socket":"/b"}', b"/b"),                     # the last, as json.loads
    (b'{"socket":"/with\\"quote"}', b'/with"quote'),               # escapes: decoded
    (b'{"socket":"/x\\\\"}', b"/x\\"),                             # an escaped backslash
    (b'{"socket":5}', None),
    (b'{"socket":"/unterminated', None),
    (b'not json "socket"', None),
    (b"", None),
])
def test_top_level_string(raw, want):
    assert L.top_level_string(raw, b"socket") == want


def test_top_level_string_agrees_with_json_on_configs():
    confs = [{"cniVersion": "1.0.0", "name": "web", "type": "boxnet", "socket": "/s",
              "prevResult": {"interfaces": [{"name": "socket", "sandbox": "/x"}]},
              "runtimeConfig": {"portMappings": [{"hostPort": 80}]}},
             {"name": "n", "args": {"cni": {"socket": "/wrong"}}, "socket": "unix:///ok"}]
    for c in confs:
        for sep in ((",", ":"), (", ", ": ")):
            raw = json.dumps(c, separators=sep).encode()
            assert L.top_level_string(raw, b"socket") == c["socket"].encode()


def test_socket_path_order():
    assert L.socket_path(b'{"socket":"unix:///a"}', {b"BOXNET_HOST": b"/b"}) == b"/a"
    assert L.socket_path(b"{}", {b"BOXNET_HOST": b"unix:///b"}) == b"/b"
    assert L.socket_path(b"{}", {}) == b"/run/boxnet/boxnet.sock"


def test_request_headers_and_line_breaks_refused():
    env = {b"CNI_CONTAINERID": b"c1", b"CNI_NETNS": b"/proc/1/ns/net", b"CNI_IFNAME": b"eth0"}
    req = L.request(b"ADD", b'{"a":1}', env)
    head, _, body = req.partition(b"\r\n\r\n")
    assert body == b'{"a":1}'
    assert b"X-CNI-Command: ADD" in head and b"X-CNI-Ifname: eth0" in head
    assert b"Content-Length: 7" in head and b"X-CNI-Args" not in head
    with pytest.raises(ValueError):
        L.request(b"ADD", b"{}", {**env, b"CNI_ARGS": b"IP=1\r\nX-Evil: 1"})
    rc, out = L.run(b"ADD", b'{"cniVersion":"1.0.0"}', {b"CNI_ARGS": b"a\nb"})
    assert rc == 1 and json.loads(out) == {"cniVersion": "1.0.0", "code": 4,
                                           "msg": "CNI_ARGS holds a line break"}


class _Server:
    """A unix-socket server answering each request with one canned HTTP answer."""

    def __init__(self, path: str, answer: bytes):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(4)
        self.answer, self.got = answer, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            n = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            while len(body) < n:
                body += conn.recv(65536)
            self.got.append((head, body))
            conn.sendall(self.answer)


@pytest.mark.parametrize("answer,rc,out", [
    (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ips\":[]}", 0, {"ips": []}),
    (b"HTTP/1.0 200 OK\r\n\r\n", 0, None),
    (b'HTTP/1.0 400 Bad Request\r\n\r\n{"cniVersion":"1.0.0","code":7,"msg":"m"}', 1,
     {"cniVersion": "1.0.0", "code": 7, "msg": "m"}),
    (b"HTTP/1.0 500 Internal Server Error\r\n\r\n500: oops", 1,
     {"cniVersion": "1.0.0", "code": 5, "msg": "boxnetd answered 500: 500: oops"}),
    (b"garbage", 1, None),
])
def test_answers(tmp_path, answer, rc, out):
    path = str(tmp_path / "s.sock")
    srv = _Server(path, answer)
    conf = json.dumps({"cniVersion": "1.0.0", "socket": path}).encode()
    got_rc, got = L.run(b"ADD", conf, {b"CNI_IFNAME": b"eth0"})
    assert got_rc == rc
    if out is None and rc == 0:
        assert got == b""
    elif out is None:
        assert json.loads(got)["code"] == 5 and "not an HTTP answer" in json.loads(got)["msg"]
    else:
        assert json.loads(got) == out
    assert srv.got[0][1] == conf


def test_daemon_down_is_11_and_50_for_status(tmp_path):
    conf = json.dumps({"cniVersion": "1.1.0", "socket": str(tmp_path / "none")}).encode()
    assert json.loads(L.run(b"ADD", conf, {})[1])["code"] == 11
    assert json.loads(L.run(b"STATUS", conf, {})[1])["code"] == 50


def test_installed_launcher_imports_nothing_more(tmp_path):
    """The installed script starts with -IS and loads no module beyond the
    interpreter's own start-up set, _socket and the launcher itself (json, re,
    os, boxnet: none); a launcher.py in the CNI bin dir does not shadow it."""
    path = install_launcher(str(tmp_path), "boxnet", kind="python")
    with open(path) as f:
        assert f.readline() == f"#!{sys.executable} -IS\n"
    (tmp_path / "launcher.py").write_text("raise SystemExit('shadowed')\n")
    probe = tmp_path / "probe"
    probe.write_text(open(path).read().replace(
        "main()\n", 'print(" ".join(sorted(sys.modules)))\n'))
    base = subprocess.run([sys.executable, "-IS", "-c", 'import sys; print(" ".join(sys.modules))'],
                          capture_output=True, text=True, check=True).stdout.split()
    mods = subprocess.run([sys.executable, "-IS", str(probe)], capture_output=True, text=True,
                          check=True).stdout.split()
    assert set(mods) - set(base) <= {"_socket", "launcher"}, set(mods) - set(base)
    env = {"CNI_COMMAND": "VERSION", "PATH": os.environ.get("PATH", "")}
    out = subprocess.run([path], capture_output=True, env=env, check=True, cwd=tmp_path).stdout
    assert json.loads(out) == version_answer()


def test_undecodable_config_with_daemon_down_is_6(tmp_path):
    env = {b"BOXNET_HOST": str(tmp_path / "none").encode()}
    assert json.loads(L.run(b"ADD", b"{not json", env)[1])["code"] == 6
    assert json.loads(L.run(b"ADD", b"[]", env)[1])["code"] == 6


def test_default_is_sh_with_curl_else_python(tmp_path, monkeypatch, capsys):
    """`install DIR`: the sh + curl launcher (curl's absolute path in it) where curl
    is on PATH, else the Python one with a note; `--shell` without curl is refused
    and leaves no file."""
    from boxnet.cni import main as M
    monkeypatch.setattr(sys, "argv", ["boxnet-cni", "install", str(tmp_path)])
    bindir = tmp_path / "bin"
    bindir.mkdir()
    curl = bindir / "curl"
    curl.write_text("#!/bin/sh\n")
    curl.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    M.main()
    text = (tmp_path / "boxnet").read_text()
    assert text.startswith("#!/bin/sh\n") and f"out=$({curl} " in text
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    M.main()
    assert (tmp_path / "boxnet").read_text().startswith(f"#!{sys.executable} -IS\n")
    assert "no curl on PATH" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["boxnet-cni", "install", "--shell", str(tmp_path), "sh"])
    with pytest.raises(SystemExit) as e:
        M.main()
    assert "needs curl" in str(e.value) and not (tmp_path / "sh").exists()
    monkeypatch.setattr(sys, "argv", ["boxnet-cni", "install", "--perl", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        M.main()
    assert "usage" in str(e.value)
