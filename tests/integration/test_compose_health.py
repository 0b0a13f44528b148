"""`depends_on: condition: service_healthy` gates the start on the daemon's healthchecks,
with docker compose v2 and with boxnet compose: a dependency whose healthcheck fails
turns unhealthy and its dependent is never started; a healthy one lets it start after
it (the dependent starts no sooner than the dependency can first pass its check)."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

COMPOSE = os.environ.get("DOCKER_COMPOSE") or str(Path(sys.executable).parent / "docker-compose")
if not os.access(COMPOSE, os.X_OK):
    COMPOSE = shutil.which("docker-compose") or COMPOSE

FILE = """
name: {name}
services:
  app:
    image: busybox
    command: ["sleep", "600"]
    depends_on:
      db: {{condition: service_healthy}}
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 600"]
    healthcheck:
      test: ["CMD-SHELL", "{test}"]
      interval: 300ms
      timeout: 2s
      retries: 3
"""


def ts(text: str) -> datetime.datetime:
    """An RFC 3339 time with up to 9 fraction digits (Docker's), to microseconds."""
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    assert m, text
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.datetime.fromisoformat(f"{m.group(1)}.{frac}{zone}")


def _tools(h, d: Path):
    env = dict(os.environ, DOCKER_HOST=h.host_uri, DOCKER_CONFIG=str(d))

    def v2(*args: str) -> subprocess.CompletedProcess:
        if not os.access(COMPOSE, os.X_OK):
            pytest.skip(f"docker compose v2 binary missing ({COMPOSE})")
        return subprocess.run([COMPOSE, *args], cwd=d, env=env, capture_output=True,
                              text=True, timeout=180, stdin=subprocess.DEVNULL)

    def bx(*args: str) -> subprocess.CompletedProcess:
        return h.cli("compose", "-f", str(d / "compose.yaml"), *args, check=False,
                     timeout=180)
    return {"v2": v2, "boxnet": bx}


def _health_supported(h) -> None:
    body = {"Image": "busybox", "Cmd": ["true"],
            "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 100_000_000}}
    status, msg = h.api("POST", "/containers/create?name=hprobe", json=body)
    h.api("DELETE", "/containers/hprobe?force=1")
    if status != 201:
        pytest.skip(f"the engine refuses Healthcheck: {status} {msg}")


@pytest.mark.parametrize("tool", ["v2", "boxnet"])
def test_unhealthy_dependency_blocks_start(host, tmp_path, tool):
    h = host
    _health_supported(h)
    name = f"hg{tool}"
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(
        FILE.format(name=name, test="exit 1")))
    run = _tools(h, tmp_path)[tool]
    try:
        r = run("up", "-d")
        assert r.returncode != 0, r.stdout + r.stderr
        assert "unhealthy" in (r.stdout + r.stderr), r.stdout + r.stderr
        db = h.inspect(f"{name}-db-1")["State"]
        assert db["Health"]["Status"] == "unhealthy" and db["Health"]["FailingStreak"] >= 3
        status, app = h.api("GET", f"/containers/{name}-app-1/json")
        assert status == 404 or not app["State"]["Running"], "app started before db was healthy"
    finally:
        run("down", "-t", "0")


@pytest.mark.parametrize("tool", ["v2", "boxnet"])
def test_healthy_dependency_starts_first(host, tmp_path, tool):
    h = host
    _health_supported(h)
    name = f"hh{tool}"
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(
        FILE.format(name=name, test="test -e /tmp/ready")))
    run = _tools(h, tmp_path)[tool]
    try:
        r = run("up", "-d")
        assert r.returncode == 0, r.stdout + r.stderr
        db = h.inspect(f"{name}-db-1")["State"]
        app = h.inspect(f"{name}-app-1")["State"]
        assert db["Health"]["Status"] == "healthy" and app["Running"]
        # db can pass its check only 1 s after its start (`sleep 1; touch`): app
        # started no sooner, so compose waited for the healthcheck, not for the start
        waited = ts(app["StartedAt"]) - ts(db["StartedAt"])
        assert waited >= datetime.timedelta(seconds=1), (waited, db["Health"]["Log"])
    finally:
        run("down", "-t", "0")
