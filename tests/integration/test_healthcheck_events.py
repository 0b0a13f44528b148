"""Healthcheck probes' exec events (brief L item 2), through the docker CLI: as
dockerd's daemon/health.go and exec.go, each probe emits the container events
`exec_create: <cmd>` and `exec_start: <cmd>` (attribute execID) and `exec_die`
(execID, exitCode), with the container's name, image and labels; a probe killed
at its timeout dies with 137. The probes really ran: each left a line in a file
inside the container."""

from __future__ import annotations

import os
import time

import pytest

from integration.healthutil import DOCKER, Docker, wait_health

pytestmark = pytest.mark.kernel
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """The docker CLI against the module's boxnetd."""
    return Docker(host, tmp_path_factory.mktemp("dockercfg"))


def _events(docker, since: str, *filters: str) -> list[dict]:
    return docker.events(since, *filters)


def test_each_probe_emits_exec_create_start_and_die_with_its_exit_code(host, docker):
    """A failing shell probe (exit 3) that counts its runs in /tmp/runs: exec_die
    events with exitCode 3, each execID also on an exec_create and an exec_start
    spelled as dockerd's ("/bin/sh -c <cmd>"), `--filter event=exec_die` shows only
    those, and the container's file has at least one line per exec_die seen."""
    since = str(int(time.time()) - 1)
    cmd = "echo run >> /tmp/runs; exit 3"
    docker("run", "-d", "--name", "hx-fail", "--label", "who=hx", "--health-cmd", cmd,
           "--health-interval", "100ms", "--health-retries", "2", "busybox", "sleep", "600")
    try:
        wait_health(host, "hx-fail", "unhealthy")
        dies = _events(docker, since, "container=hx-fail", "event=exec_die")
        assert len(dies) >= 2, dies
        assert {e["Action"] for e in dies} == {"exec_die"}
        runs = host.exec("hx-fail", "cat", "/tmp/runs", check=True).stdout.split()
        assert len(runs) >= len(dies), (runs, dies)
        for e in dies:
            attrs = e["Actor"]["Attributes"]
            assert attrs["exitCode"] == "3", attrs
            assert attrs["name"] == "hx-fail" and attrs["image"] == "busybox"
            assert attrs["who"] == "hx" and len(attrs["execID"]) == 64
        assert len({e["Actor"]["Attributes"]["execID"] for e in dies}) == len(dies)
        every = _events(docker, since, "container=hx-fail")
        by_id: dict[str, list[str]] = {}
        for e in every:
            if "execID" in e["Actor"]["Attributes"]:
                by_id.setdefault(e["Actor"]["Attributes"]["execID"], []).append(e["Action"])
        for e in dies:
            assert by_id[e["Actor"]["Attributes"]["execID"]] == [
                f"exec_create: /bin/sh -c {cmd}", f"exec_start: /bin/sh -c {cmd}",
                "exec_die"], by_id
        # dockerd matches exec_create/exec_start by prefix (#25798)
        creates = _events(docker, since, "container=hx-fail", "event=exec_create")
        # the probes' and the test's own `cat /tmp/runs` exec (plain execs emit them too)
        assert creates and all(e["Action"] in (f"exec_create: /bin/sh -c {cmd}",
                                               "exec_create: cat /tmp/runs")
                               for e in creates), creates
    finally:
        docker("rm", "-f", "hx-fail")


def test_a_probe_killed_at_its_timeout_dies_with_137(host, docker):
    """`sleep 30` with a 300 ms timeout: its exec_die says exitCode 137 (SIGKILL)."""
    since = str(int(time.time()) - 1)
    docker("run", "-d", "--name", "hx-slow", "--health-cmd", "sleep 30", "--health-timeout",
           "300ms", "--health-interval", "200ms", "--health-retries", "1",
           "busybox", "sleep", "600")
    try:
        wait_health(host, "hx-slow", "unhealthy")
        end = time.monotonic() + 30
        while not (dies := _events(docker, since, "container=hx-slow", "event=exec_die")):
            assert time.monotonic() < end, "no exec_die of the killed probe"
            time.sleep(0.3)
        assert dies[0]["Actor"]["Attributes"]["exitCode"] == "137", dies
    finally:
        docker("rm", "-f", "hx-slow")
