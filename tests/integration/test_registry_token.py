"""Bearer-token auth against a real registry: docker-registry with token
auth (distribution's `auth: token`), tokens from a test token server (JWT
signed by a key the test makes).  The daemon follows the registry's
`WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge: login,
pull (scope pull) and push (scope pull,push) with the user's credentials; a
wrong password is refused by the token server; no credentials get no access."""

from __future__ import annotations

import pytest

from integration import harness, imagetars
from integration.outside import Outside
from integration.registry import Registry, registry_auth
from integration.test_registry_pull import docker_cli, stream

pytestmark = pytest.mark.kernel
USER, PASSWORD = "bob", "t0ken-pw"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(host, registry with token auth) seeded with team/da:v1."""
    h = harness.TestHost()
    try:
        o = Outside(h)
        reg = Registry(o, users={USER: PASSWORD}, token=True)
        h.start("--insecure-registry", reg.addr)
        tar = tmp_path_factory.mktemp("seed") / "da.tar"
        imagetars.docker_archive(str(tar), "x/da:v1")
        reg.seed(f"docker-archive:{tar}", "team/da:v1")
        yield h, reg
    finally:
        assert not h.teardown()


def test_login_with_token_auth(world):
    """docker login: the credentials go to the token server named by the challenge."""
    h, reg = world
    r = docker_cli(h, "login", "-u", USER, "--password-stdin", reg.addr, check=False,
                   input_text="wrong")
    assert r.returncode == 1 and "401 Unauthorized" in r.stderr, r
    r = docker_cli(h, "login", "-u", USER, "--password-stdin", reg.addr, input_text=PASSWORD)
    assert "Login Succeeded" in r.stdout, r


def test_pull_and_push_with_bearer_tokens(world):
    """Pull asks a token for repository:team/da:pull, push for
    repository:tools/bb:pull,push; the pulled image runs."""
    h, reg = world
    auth = {"X-Registry-Auth": registry_auth(USER, PASSWORD, reg.addr)}
    status, msgs = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1", auth)
    assert status == 200 and msgs[-1]["status"].startswith("Status: Downloaded"), msgs
    out = docker_cli(h, "run", "--rm", f"{reg.addr}/team/da:v1", "cat", "/hello.txt")
    assert out.stdout == "hello from layer 2\n"
    h.api_ok("POST", f"/images/busybox/tag?repo={reg.addr}/tools/bb&tag=1", ok=(201,))
    status, msgs = stream(h, f"/images/{reg.addr}/tools/bb/push?tag=1", auth)
    assert status == 200 and "aux" in msgs[-1], msgs
    log = reg.token_log.read_text()
    assert f"user='{USER}' scope=['repository:team/da:pull'] GET" in log, log
    assert f"user='{USER}' scope=['repository:tools/bb:pull,push'] GET" in log, log


def test_no_or_wrong_credentials(world):
    """Anonymous: the token grants nothing and the registry refuses (401);
    a wrong password: the token server refuses (401)."""
    h, reg = world
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1")
    assert status == 401 and "unauthorized" in body["message"], body
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1",
                          {"X-Registry-Auth": registry_auth(USER, "nope", reg.addr)})
    assert status == 401 and "bad credentials" in body["message"], body


def test_identity_token_is_used_as_a_refresh_token(world):
    """X-Registry-Auth with an identitytoken (what docker login stores for OAuth
    registries): the token comes from the refresh-token grant (POST)."""
    import base64
    import json
    h, reg = world
    h.api("DELETE", f"/images/{reg.addr}/team/da:v1?force=1")
    good = base64.urlsafe_b64encode(json.dumps({"identitytoken": f"refresh-{USER}"}).encode())
    status, msgs = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1",
                          {"X-Registry-Auth": good.decode()})
    assert status == 200 and msgs[-1]["status"].startswith("Status: Downloaded"), msgs
    assert f"user='{USER}' scope=['repository:team/da:pull'] POST" in reg.token_log.read_text()
    bad = base64.urlsafe_b64encode(json.dumps({"identitytoken": "stolen"}).encode())
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1",
                          {"X-Registry-Auth": bad.decode()})
    assert status == 401, body
