"""Registry auth and transport against a real registry: TLS with a CA the
test makes (given to boxnetd as certs.d/<host:port>/ca.crt) and htpasswd
basic auth; `docker login` (POST /auth) with a right and a wrong password,
pull and push with X-Registry-Auth; a TLS registry without the CA is
refused; a plain-HTTP registry not named insecure is refused."""

from __future__ import annotations

import shutil

import docker
import pytest

from integration import harness, imagetars
from integration.outside import Outside
from integration.registry import Registry, join, registry_auth
from integration.test_registry_pull import docker_cli, stream

pytestmark = pytest.mark.kernel
USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(host with the CA in certs.d, host without it, TLS+htpasswd registry)."""
    a, b = harness.TestHost(), harness.TestHost()
    try:
        o = Outside(a)
        reg = Registry(o, tls=True, users={USER: PASSWORD})
        join(o, b)
        certs = a.dir / "certs.d"
        (certs / reg.addr).mkdir(parents=True)
        shutil.copy(reg.ca, certs / reg.addr / "ca.crt")
        a.start("--registry-certs-dir", str(certs))
        b.start("--registry-certs-dir", str(b.dir / "no-certs.d"))
        tar = tmp_path_factory.mktemp("seed") / "da.tar"
        imagetars.docker_archive(str(tar), "x/da:v1")
        reg.seed(f"docker-archive:{tar}", "team/da:v1")
        yield a, b, reg
    finally:
        assert not a.teardown()
        assert not b.teardown()


def test_login_wrong_password_is_refused(world):
    """`docker login` with a wrong password: 401 in Docker's words, exit 1."""
    a, _, reg = world
    r = docker_cli(a, "login", "-u", USER, "--password-stdin", reg.addr, check=False,
                   input_text="wrong")
    assert r.returncode == 1, r
    assert "401 Unauthorized" in r.stderr, r.stderr
    status, body = a.api("POST", "/auth", json={"username": USER, "password": "nope",
                                                "serveraddress": reg.addr})
    assert status == 401 and "failed with status: 401 Unauthorized" in body["message"], body


def test_login_then_pull_and_push(world):
    """`docker login` succeeds; the CLI then sends X-Registry-Auth from its
    config on pull and push."""
    a, _, reg = world
    r = docker_cli(a, "login", "-u", USER, "--password-stdin", reg.addr, input_text=PASSWORD)
    assert "Login Succeeded" in r.stdout, r
    docker_cli(a, "pull", f"{reg.addr}/team/da:v1")
    out = docker_cli(a, "run", "--rm", f"{reg.addr}/team/da:v1", "cat", "/hello.txt")
    assert out.stdout.strip() == "hello from layer 2"
    docker_cli(a, "tag", "busybox", f"{reg.addr}/tools/bb:1")
    r = docker_cli(a, "push", f"{reg.addr}/tools/bb:1")
    assert "digest: sha256:" in r.stdout, r.stdout
    assert reg.manifest("tools/bb:1")[0]
    docker_cli(a, "logout", reg.addr)


def test_pull_without_credentials_is_unauthorized(world):
    """No credentials: a 401 naming the missing credentials; wrong ones: 401 too;
    docker-py with auth_config pulls."""
    a, _, reg = world
    status, body = stream(a, f"/images/create?fromImage={reg.addr}/team/da&tag=v1")
    assert status == 401 and "no basic auth credentials" in body["message"], body
    status, body = stream(a, f"/images/create?fromImage={reg.addr}/team/da&tag=v1",
                          headers={"X-Registry-Auth": registry_auth(USER, "bad", reg.addr)})
    assert status == 401 and "unauthorized" in body["message"], body
    status, body = stream(a, f"/images/create?fromImage={reg.addr}/team/da&tag=v1",
                          headers={"X-Registry-Auth": "%%%not-base64"})
    assert status == 400 and "X-Registry-Auth" in body["message"], body
    a.api("DELETE", f"/images/{reg.addr}/team/da:v1?force=1")
    client = docker.DockerClient(base_url=a.host_uri, timeout=120)
    img = client.images.pull(f"{reg.addr}/team/da", tag="v1",
                             auth_config={"username": USER, "password": PASSWORD})
    assert img.tags == [f"{reg.addr}/team/da:v1"]


def test_tls_without_the_ca_is_refused(world):
    """A daemon without the registry's CA in certs.d does not trust it."""
    _, b, reg = world
    status, body = stream(b, f"/images/create?fromImage={reg.addr}/team/da&tag=v1",
                          headers={"X-Registry-Auth": registry_auth(USER, PASSWORD, reg.addr)})
    assert status == 500 and "certificate verify failed" in body["message"], body
    assert not [n for n in (b.data_root / "images").iterdir() if n.name.startswith(".import-")]


def test_plain_http_registry_needs_insecure_flag(world, make_host, outside):
    """A plain-HTTP registry: refused (HTTPS only) unless --insecure-registry names it."""
    h = make_host(start=False)
    o = outside(h, host_addr="198.18.0.9/30", addr="198.18.0.10/30")
    reg = Registry(o)
    tar = h.dir / "da.tar"
    imagetars.docker_archive(str(tar), "x/da:v1")
    reg.seed(f"docker-archive:{tar}", "team/da:v1")
    h.start()
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1")
    assert status == 500 and f"https://{reg.addr}/v2/" in body["message"], body
    h.stop()
    h.start("--insecure-registry", "198.18.0.8/30")
    status, msgs = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1")
    assert status == 200 and msgs[-1]["status"].startswith("Status: Downloaded"), msgs
    reg.teardown()


def test_client_certificate_from_certs_d(make_host, outside, tmp_path):
    """A registry requiring client certificates: refused without one, pulled
    with client.cert/client.key in certs.d/<host:port>/ (Docker's layout)."""
    h = make_host(start=False)
    o = outside(h, host_addr="198.18.0.13/30", addr="198.18.0.14/30")
    reg = Registry(o, tls=True, client_certs=True)
    tar = tmp_path / "da.tar"
    imagetars.docker_archive(str(tar), "x/da:v1")
    reg.seed(f"docker-archive:{tar}", "team/da:v1")
    certs = h.dir / "certs.d"
    (certs / reg.addr).mkdir(parents=True)
    shutil.copy(reg.ca, certs / reg.addr / "ca.crt")
    h.start("--registry-certs-dir", str(certs))
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1")
    assert status == 500 and reg.addr in body["message"], body
    shutil.copy(reg.client[0], certs / reg.addr / "client.cert")
    shutil.copy(reg.client[1], certs / reg.addr / "client.key")
    status, msgs = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=v1")
    assert status == 200 and msgs[-1]["status"].startswith("Status: Downloaded"), msgs
    reg.teardown()
