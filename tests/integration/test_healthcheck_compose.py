"""Compose waits on the daemon's healthchecks (issue 16 item 4): docker compose
v2's `up -d --wait` and `depends_on: condition: service_healthy`, and `boxnet
compose` doing the same from State.Health.  The order is proved from what the
daemon recorded: the dependant's StartedAt comes after the End of the probe
that turned its dependency healthy, and that probe found the file the
dependency's own process wrote once "ready"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel
COMPOSE = os.environ.get("DOCKER_COMPOSE") or str(Path(sys.executable).parent / "docker-compose")
if not os.access(COMPOSE, os.X_OK):
    COMPOSE = shutil.which("docker-compose") or COMPOSE

PROJECT = """
name: {name}
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 2; echo ready > /tmp/ready; exec sleep 600"]
    healthcheck:
      test: "cat /tmp/ready"
      interval: 200ms
      retries: 50          # 10 s of failures before "ready" (2 s) would be unhealthy
  web:
    image: busybox
    command: ["sleep", "600"]
    depends_on:
      db: {{condition: service_healthy}}
"""

UNHEALTHY = """
name: {name}
services:
  db:
    image: busybox
    command: ["sleep", "600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      retries: 2
  web:
    image: busybox
    command: ["sleep", "600"]
    depends_on:
      db: {{condition: service_healthy}}
"""


def _containers(host, project: str) -> dict[str, dict]:
    """service name -> inspect of its container."""
    out = {}
    for c in host.api_ok("GET", "/containers/json?all=1"):
        labels = c["Labels"]
        if labels.get("com.docker.compose.project") == project:
            out[labels["com.docker.compose.service"]] = host.inspect(c["Id"])
    return out


def _events(host, project: str, since: float) -> list[dict]:
    """The daemon's container events of the project's containers since `since`."""
    until = int(time.time()) + 1
    status, text = host.api("GET", f"/events?since={int(since)}&until={until}", timeout=30)
    assert status == 200, text
    evs = [json.loads(line) for line in text.splitlines() if line.strip()] \
        if isinstance(text, str) else list(text) if isinstance(text, list) else [text]
    return [e for e in evs if e.get("Type") == "container"
            and e["Actor"]["Attributes"].get("com.docker.compose.project") == project]


def _assert_order(host, project: str, since: float) -> None:
    """web started after db's health_status: healthy event, and db was not
    ready at once (its process sleeps 2 s first): the wait was real."""
    cs = _containers(host, project)
    db, web = cs["db"], cs["web"]
    h = db["State"]["Health"]
    assert h["Status"] == "healthy" and h["Log"][-1]["Output"] == "ready\n", h
    assert web["State"]["Running"]
    at = {(e["Actor"]["Attributes"]["com.docker.compose.service"], e["Action"]): e["timeNano"]
          for e in _events(host, project, since)}
    assert at[("web", "start")] > at[("db", "health_status: healthy")] > at[("db", "start")], at
    assert at[("web", "start")] - at[("db", "start")] > 1_500_000_000, at


@pytest.fixture
def v2(host, tmp_path):
    """A runner of the docker compose v2 binary in a project dir."""
    if not os.access(COMPOSE, os.X_OK):
        pytest.skip(f"docker compose v2 binary missing ({COMPOSE})")
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path))
    made = []

    def compose(text: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        (tmp_path / "compose.yaml").write_text(text)
        made.append(True)
        r = subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=180, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r
    yield compose
    if made:
        subprocess.run([COMPOSE, "down", "-t", "0"], cwd=tmp_path, env=env, capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)


def test_compose_v2_service_healthy_starts_the_dependant_after_the_probe_passes(host, v2):
    since = time.time() - 1
    v2(PROJECT.format(name="hcv2"), "up", "-d")
    _assert_order(host, "hcv2", since)


def test_compose_v2_up_wait_returns_once_healthy(host, v2):
    since = time.time() - 1
    v2(PROJECT.format(name="hcwait"), "up", "-d", "--wait")
    cs = _containers(host, "hcwait")
    assert cs["db"]["State"]["Health"]["Status"] == "healthy"   # already, when --wait returned
    _assert_order(host, "hcwait", since)


def test_compose_v2_an_unhealthy_dependency_stops_the_up(host, v2):
    r = v2(UNHEALTHY.format(name="hcsick"), "up", "-d", check=False)
    assert r.returncode != 0 and "unhealthy" in (r.stdout + r.stderr).lower()
    cs = _containers(host, "hcsick")
    assert cs["db"]["State"]["Health"]["Status"] == "unhealthy"
    assert not cs["web"]["State"]["Running"] and cs["web"]["State"]["StartedAt"].startswith("0001")


def test_boxnet_compose_waits_on_the_daemons_health(host, tmp_path):
    f = tmp_path / "compose.yaml"
    f.write_text(PROJECT.format(name="hcbx"))
    try:
        since = time.time() - 1
        r = host.cli("compose", "-f", str(f), "up", "-d", timeout=180)
        assert "Healthy" in r.stdout + r.stderr
        _assert_order(host, "hcbx", since)
    finally:
        host.cli("compose", "-f", str(f), "down", "-t", "0", check=False, timeout=120)
    f.write_text(UNHEALTHY.format(name="hcbxsick"))
    try:
        r = host.cli("compose", "-f", str(f), "up", "-d", check=False, timeout=180)
        assert r.returncode != 0 and "is unhealthy" in r.stdout + r.stderr
        cs = _containers(host, "hcbxsick")
        assert cs["db"]["State"]["Health"]["Status"] == "unhealthy"
        assert "web" not in cs or not cs["web"]["State"]["Running"]   # boxnet compose: never made
    finally:
        host.cli("compose", "-f", str(f), "down", "-t", "0", check=False, timeout=120)
