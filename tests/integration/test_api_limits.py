"""Bad input at the HTTP level, against a real boxnetd over its unix socket:
oversized JSON bodies (413), broken chunked encoding (400), a client that
vanishes mid-body; and create bodies that set fields boxnet does not
implement (400 naming the field).  Every refusal is Docker's {"message": ...},
changes nothing, and the daemon keeps serving."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from integration.checks import unchanged

pytestmark = pytest.mark.kernel
LIMIT = 4 << 20   # api/server.py MAX_JSON_BODY


def raw_request(host, data: bytes | list[bytes], timeout: float = 10, pause: float = 0.2):
    """Send raw bytes (a list: in separate writes) on the socket; return
    (status, headers text, parsed JSON body or text) of the reply."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(host.sock))
    try:
        for i, part in enumerate([data] if isinstance(data, bytes) else data):
            if i:
                time.sleep(pause)
            try:
                s.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the daemon answered and closed before reading it all
        out = b""
        while b"\r\n\r\n" not in out or len(out) < _expected(out):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    text = body.decode(errors="replace")
    try:
        return status, head.decode(), json.loads(text)
    except ValueError:
        return status, head.decode(), text


def _expected(out: bytes) -> int:
    head, sep, _ = out.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + len(sep) + int(line.split(b":")[1])
    return 1 << 62 if sep else 0


def post(path: str, body: bytes, chunked: bool = False) -> bytes:
    """A POST request's bytes (Content-Length, or one chunk when chunked)."""
    if chunked:
        return (f"POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                f"Transfer-Encoding: chunked\r\n\r\n{len(body):x}\r\n").encode() + body + \
            b"\r\n0\r\n\r\n"
    return (f"POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def healthy(host) -> None:
    """The daemon still answers."""
    assert host.api("GET", "/_ping") == (200, "OK")
    assert host.running()


def big_network_body() -> bytes:
    """A valid network create body just over the limit (a huge label)."""
    return json.dumps({"Name": "big-net", "Labels": {"pad": "x" * LIMIT}}).encode()


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_json_body_is_413(host, chunked):
    """A JSON body over 4 MiB: 413 that states the limit; no network made."""
    with unchanged(host):
        status, _, reply = raw_request(host, post("/v1.50/networks/create", big_network_body(),
                                                  chunked))
    assert status == 413, reply
    assert "4194304 bytes" in reply["message"] and "4 MiB" in reply["message"], reply
    healthy(host)


def test_body_under_the_limit_is_served(host):
    """A 3 MiB JSON body is read normally (the limit is not too tight)."""
    body = json.dumps({"Name": "fat-net", "Labels": {"pad": "x" * (3 << 20)}}).encode()
    status, _, reply = raw_request(host, post("/v1.50/networks/create", body, chunked=True))
    assert status == 201, reply
    assert host.api("DELETE", "/networks/fat-net")[0] == 204


@pytest.mark.parametrize("parts", [
    # a bad chunk-size line in the first packet (before the handler runs)
    [b"zz\r\nabc\r\n0\r\n\r\n"],
    # a valid first chunk, then a bad size line while the handler is reading
    [b"2\r\n{\"\r\n", b"zz\r\nabc\r\n0\r\n\r\n"],
    # a chunk longer than its declared size
    [b"2\r\n{\"\r\n", b"3\r\nName\": \"q\"}\r\n0\r\n\r\n"],
], ids=["bad-size-first", "bad-size-later", "overlong-chunk"])
@pytest.mark.parametrize("path", ["/v1.50/networks/create", "/v1.50/images/load"])
def test_broken_chunked_encoding_is_400(host, path, parts):
    """Broken chunk framing on a JSON route and on the streaming load route:
    400 {"message"}, nothing changed, no spool file left, daemon healthy."""
    head = (f"POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    images = host.api_ok("GET", "/images/json")
    with unchanged(host):
        status, _, reply = raw_request(host, [head + parts[0], *parts[1:]])
    assert status == 400, reply
    assert isinstance(reply, dict) and "chunk" in reply["message"].lower(), reply
    assert host.api_ok("GET", "/images/json") == images
    assert not [f for f in os.listdir(host.data_root) if f.startswith("boxnet-load-")]
    healthy(host)


def test_client_gone_mid_load_leaves_nothing(host):
    """A client that sends half an image tarball and disconnects: no image,
    no spool file, the daemon serves the next request."""
    images = host.api_ok("GET", "/images/json")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(host.sock))
    s.sendall(b"POST /v1.50/images/load HTTP/1.1\r\nHost: docker\r\n"
              b"Content-Type: application/x-tar\r\nContent-Length: 10485760\r\n\r\n")
    s.sendall(b"\0" * (1 << 20))
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 10
    while [f for f in os.listdir(host.data_root) if f.startswith("boxnet-load-")]:
        assert time.monotonic() < deadline, "spool file of the aborted load left behind"
        time.sleep(0.1)
    assert host.api_ok("GET", "/images/json") == images
    healthy(host)


@pytest.mark.parametrize("hc,field", [
    ({"UsernsMode": "private"}, "HostConfig.UsernsMode"),
    ({"CgroupParent": "mine"}, "HostConfig.CgroupParent"),
    ({"KernelMemoryTCP": 64 << 20}, "HostConfig.KernelMemoryTCP"),
    ({"Sysctls": {"kernel.panic": "1"}}, "HostConfig.Sysctls"),
    ({"StorageOpt": {"size": "1G"}}, "HostConfig.StorageOpt"),
    ({"Runtime": "kata"}, "HostConfig.Runtime"),
])
def test_unsupported_container_field_is_400(host, hc, field):
    """A create body setting an unsupported field: 400 naming it, no container."""
    with unchanged(host):
        status, reply = host.api("POST", "/containers/create?name=unsup",
                                 json={"Image": "busybox", "Cmd": ["true"], "HostConfig": hc})
    assert status == 400, reply
    assert reply["message"].startswith(f"{field} is not supported by boxnet"), reply


def test_unsupported_network_field_is_400(host):
    """Network create with Ingress (a swarm feature): 400 naming it, no network."""
    with unchanged(host):
        status, reply = host.api("POST", "/networks/create", json={"Name": "ingr", "Ingress": True})
    assert status == 400 and reply["message"].startswith("Ingress is not supported"), reply


def test_bind_mount_through_mounts_works(host, tmp_path):
    """--mount type=bind (HostConfig.Mounts) is honoured, not refused."""
    (tmp_path / "f.txt").write_text("mounted\n")
    status, reply = host.api("POST", "/containers/create?name=mnt1", json={
        "Image": "busybox", "Cmd": ["cat", "/m/f.txt"], "HostConfig": {"Mounts": [
            {"Type": "bind", "Source": str(tmp_path), "Target": "/m", "ReadOnly": True}]}})
    assert status == 201, reply
    try:
        host.api_ok("POST", "/containers/mnt1/start")
        assert host.api_ok("POST", "/containers/mnt1/wait")["StatusCode"] == 0
        assert "mounted" in host.cli("logs", "mnt1").stdout
    finally:
        host.api("DELETE", "/containers/mnt1?force=1")
