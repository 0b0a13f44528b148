"""A push without X-Registry-Auth (brief L item 3) against a real plain-HTTP
registry that needs no login: anonymous, as moby master and 28.x since
moby#50371 (dockerd 20.10 answered an empty body with a 400 "Bad parameters
and missing X-Registry-Auth: EOF"), at the advertised API version and at an
old one (the rule is not per API version); docker-py (no header, a `{}` body)
pushes too; credentials in the body (API v1.4's form, which moby master drops
unread) and a body that is not an AuthConfig are refused with a 400 naming
X-Registry-Auth, and nothing is pushed. A second daemon pulls and runs what
was pushed."""

from __future__ import annotations

import json
import subprocess

import docker
import pytest

from integration import harness
from integration.harness import UnixHTTPConnection
from integration.outside import Outside
from integration.registry import Registry, join
from integration.test_registry_pull import docker_cli

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(host A, host B, registry): two daemons reaching one plain-HTTP open registry."""
    a, b = harness.TestHost(), harness.TestHost()
    try:
        o = Outside(a)
        reg = Registry(o)
        join(o, b)
        a.start("--insecure-registry", reg.addr)
        b.start("--insecure-registry", reg.addr)
        yield a, b, reg
    finally:
        assert not a.teardown()
        assert not b.teardown()


def _push(h, path: str, body: bytes | None) -> tuple[int, object]:
    """POST `path` with no X-Registry-Auth and `body` (None: no body at all)."""
    conn = UnixHTTPConnection(str(h.sock), timeout=120)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read().decode()
    finally:
        conn.close()
    if resp.status != 200:
        return resp.status, json.loads(raw)
    return 200, [json.loads(line) for line in raw.splitlines() if line.strip()]


def _pushed(reg, ref: str) -> bool:
    """Whether the registry has a manifest for repo:tag."""
    try:
        return bool(reg.manifest(ref)[0])
    except (subprocess.CalledProcessError, AssertionError, ValueError):
        return False


def test_a_push_without_x_registry_auth_is_anonymous_at_every_api_version(world):
    """No header and no body (v1.50 and v1.24), no header and `{}`: each pushes,
    the second daemon pulls the image and runs it."""
    a, b, reg = world
    for tag, path, body in (("v50", "/v1.50", None), ("v24", "/v1.24", None),
                            ("empty", "/v1.50", b"{}")):
        docker_cli(a, "tag", "busybox", f"{reg.addr}/anon/bb:{tag}")
        status, msgs = _push(a, f"{path}/images/{reg.addr}/anon/bb/push?tag={tag}", body)
        assert status == 200, msgs
        assert not [m for m in msgs if "error" in m], msgs
        assert any("digest: sha256:" in m.get("status", "") for m in msgs), msgs
        assert _pushed(reg, f"anon/bb:{tag}")
    docker_cli(b, "pull", f"{reg.addr}/anon/bb:v24")
    out = docker_cli(b, "run", "--rm", f"{reg.addr}/anon/bb:v24", "sh", "-c", "echo anon")
    assert out.stdout.strip() == "anon"


def test_docker_py_pushes_without_credentials(world, tmp_path, monkeypatch):
    """docker-py with no credentials configured sends no X-Registry-Auth (a `{}`
    body): the push succeeds."""
    a, _, reg = world
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))   # no config.json: no auth
    docker_cli(a, "tag", "busybox", f"{reg.addr}/anon/py:1")
    client = docker.DockerClient(base_url=a.host_uri, timeout=120)
    try:
        msgs = list(client.images.push(f"{reg.addr}/anon/py", tag="1", stream=True,
                                       decode=True))
    finally:
        client.close()
    assert not [m for m in msgs if "error" in m], msgs
    assert _pushed(reg, "anon/py:1")


def test_credentials_in_the_body_are_refused_not_ignored(world):
    """No header but credentials in the body, or a body that is no AuthConfig: 400
    naming X-Registry-Auth, nothing pushed."""
    a, _, reg = world
    docker_cli(a, "tag", "busybox", f"{reg.addr}/anon/body:1")
    path = f"/images/{reg.addr}/anon/body/push?tag=1"
    creds = json.dumps({"username": "alice", "password": "pw",
                        "serveraddress": reg.addr}).encode()
    for body in (creds, b"not json", b"[1]"):
        status, err = _push(a, path, body)
        assert status == 400 and "X-Registry-Auth" in err["message"], (body, err)
    assert not _pushed(reg, "anon/body:1")
