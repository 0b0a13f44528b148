"""`docker exec` emits dockerd's container events (daemon/exec.go): `exec_create: <cmd>`
and `exec_start: <cmd>` with the exec's id, then `exec_die` with its exit code, for a
plain exec, a detached one and a TTY one, as the docker CLI shows them."""

from __future__ import annotations

import os
import time

import pytest

from integration.healthutil import DOCKER, Docker

pytestmark = pytest.mark.kernel
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


def _events(docker, since: str, *filters: str) -> list[dict]:
    return docker.events(since, *filters)


def test_exec_emits_create_start_and_die(host, tmp_path):
    docker = Docker(host, tmp_path)
    since = str(int(time.time()) - 1)
    docker("run", "-d", "--name", "exev", "busybox", "sleep", "600")
    try:
        r = docker("exec", "exev", "sh", "-c", "echo ran > /tmp/x; exit 4", check=False)
        assert r.returncode == 4
        docker("exec", "-d", "exev", "sh", "-c", "exit 0")
        docker("exec", "-t", "exev", "true")
        deadline = time.monotonic() + 30
        while True:
            evs = [e for e in _events(docker, since, "container=exev")
                   if e["Action"].startswith("exec_")]
            if sum(e["Action"] == "exec_die" for e in evs) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        by_id: dict[str, list[dict]] = {}
        for e in evs:
            by_id.setdefault(e["Actor"]["Attributes"]["execID"], []).append(e)
        acts = sorted([e["Action"] for e in v] for v in by_id.values())
        assert acts == sorted([
            ["exec_create: sh -c echo ran > /tmp/x; exit 4",
             "exec_start: sh -c echo ran > /tmp/x; exit 4", "exec_die"],
            ["exec_create: sh -c exit 0", "exec_start: sh -c exit 0", "exec_die"],
            ["exec_create: true ", "exec_start: true ", "exec_die"]]), evs
        codes = sorted(v[-1]["Actor"]["Attributes"]["exitCode"] for v in by_id.values())
        assert codes == ["0", "0", "4"]
        assert host.exec("exev", "cat", "/tmp/x", check=True).stdout.strip() == "ran"
        assert all(e["Actor"]["Attributes"]["name"] == "exev" for e in evs)
    finally:
        docker("rm", "-f", "exev")
