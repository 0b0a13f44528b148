"""Compose projects whose images exist only in a registry: the docker compose
v2 binary (`pull`, `up -d`) and boxnet's own compose (`pull`, `up -d` with
pull_policy missing/always/never; build refused clearly), proved from inside
the services' containers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from integration import harness, imagetars
from integration.outside import Outside
from integration.registry import Registry

pytestmark = pytest.mark.kernel
COMPOSE = os.environ.get("DOCKER_COMPOSE") or str(Path(sys.executable).parent / "docker-compose")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(host, registry) with team/da:v1 and team/db:v1 only in the registry."""
    h = harness.TestHost()
    try:
        o = Outside(h)
        reg = Registry(o)
        h.start("--insecure-registry", reg.addr)
        tar = tmp_path_factory.mktemp("seed") / "da.tar"
        imagetars.docker_archive(str(tar), "x/da:v1")
        for repo in ("team/web:1", "team/db:1", "team/bx:1"):
            reg.seed(f"docker-archive:{tar}", repo)
        yield h, reg
    finally:
        assert not h.teardown()


def has_image(h, ref):
    """Whether the daemon stores `ref`."""
    return h.api("GET", f"/images/{ref}/json")[0] == 200


def test_docker_compose_v2_pull_and_up(world, tmp_path):
    """`docker compose pull` then `up -d`: both services run the pulled image."""
    if not os.path.exists(COMPOSE):
        pytest.skip(f"docker compose v2 binary missing ({COMPOSE})")
    h, reg = world
    (tmp_path / "compose.yaml").write_text(f"""
services:
  web:
    image: {reg.addr}/team/web:1
    command: ["sleep", "300"]
  db:
    image: {reg.addr}/team/db:1
    command: ["sleep", "300"]
""")
    env = dict(os.environ, DOCKER_HOST=h.host_uri, DOCKER_CONFIG=str(tmp_path))

    def compose(*args):
        r = subprocess.run([COMPOSE, "-p", "regv2", *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"compose {args} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r
    compose("pull", "web")
    assert has_image(h, f"{reg.addr}/team/web:1") and not has_image(h, f"{reg.addr}/team/db:1")
    compose("up", "-d")                                 # db is pulled by up itself
    try:
        for svc in ("web", "db"):
            r = h.exec(f"regv2-{svc}-1", "cat", "/hello.txt")
            assert r.stdout == "hello from layer 2\n", r
    finally:
        compose("down")


def test_boxnet_compose_pull_policies(world, tmp_path):
    """boxnet compose: missing pulls at up, never refuses a missing image,
    build is refused with the key named, `compose pull` pulls."""
    h, reg = world
    f = tmp_path / "compose.yaml"
    f.write_text(f"""
services:
  app:
    image: {reg.addr}/team/bx:1
    command: ["sleep", "300"]
    pull_policy: never
""")
    r = h.cli("compose", "-f", str(f), "-p", "regbx", "up", "-d", check=False, timeout=120)
    assert r.returncode != 0 and "pull_policy is never" in r.stderr, r
    f.write_text(f.read_text().replace("never", "build"))
    r = h.cli("compose", "-f", str(f), "-p", "regbx", "up", "-d", check=False, timeout=120)
    assert r.returncode != 0 and "pull_policy 'build' is not supported" in r.stderr, r
    f.write_text(f.read_text().replace("build", "missing"))
    h.cli("compose", "-f", str(f), "-p", "regbx", "up", "-d", timeout=180)
    try:
        assert h.exec("regbx-app-1", "cat", "/keep.txt").stdout == "kept from layer 1\n"
        f.write_text(f.read_text().replace("missing", "always"))
        r = h.cli("compose", "-f", str(f), "-p", "regbx", "pull", timeout=180)
        assert "Image is up to date" in r.stdout, r.stdout
    finally:
        h.cli("compose", "-f", str(f), "-p", "regbx", "down", check=False, timeout=120)
