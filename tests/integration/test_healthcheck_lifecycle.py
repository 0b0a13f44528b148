"""Healthchecks across the container's and the daemon's life (issue 16 item 4):
a daemon restart re-probes a re-adopted container and keeps a stopped one's
Health; kills while probes are in flight end at once and leave no runc zombie
in the daemon (kernel/reaper.py); `docker pause` stops the probes."""

from __future__ import annotations

import calendar
import os
import time

import pytest

from integration.healthutil import DOCKER, MS, Docker, health, wait_health

pytestmark = pytest.mark.kernel
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """The docker CLI against the module's boxnetd."""
    return Docker(host, tmp_path_factory.mktemp("dockercfg"))


def test_health_survives_a_daemon_restart(make_host):
    """A running container re-adopted at the daemon's start is probed again
    (from starting, as dockerd's restore); a stopped one keeps its Health
    (unhealthy, as dockerd shows a stopped container's) and Log."""
    h = make_host()
    body = {"Image": "busybox", "Cmd": ["sleep", "600"],
            "Healthcheck": {"Test": ["CMD-SHELL", "echo alive"], "Interval": 100 * MS}}
    for name in ("hr-run", "hr-stop"):
        assert h.api("POST", f"/containers/create?name={name}", json=body)[0] == 201
        h.api_ok("POST", f"/containers/{name}/start")
        wait_health(h, name, "healthy")
    h.api_ok("POST", "/containers/hr-stop/stop?t=0")
    stopped = health(h, "hr-stop")
    assert stopped["Status"] == "unhealthy" and stopped["Log"], stopped
    before = health(h, "hr-run")["Log"][-1]["End"]
    h.restart()
    assert health(h, "hr-stop") == stopped
    deadline = time.monotonic() + 30
    while True:
        now = health(h, "hr-run")
        if now["Status"] == "healthy" and now["Log"][-1]["Start"] > before:
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.1)
    assert now["Log"][-1]["Output"] == "alive\n"
    for name in ("hr-run", "hr-stop"):
        h.api_ok("DELETE", f"/containers/{name}?force=1")


def _runc_zombies(pid: int) -> list[int]:
    """Zombie children of `pid` named after runc's stages (kernel/reaper.py)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            for child in f.read().split():
                try:
                    with open(f"/proc/{child}/stat") as s:
                        stat = s.read()
                except OSError:
                    continue
                if stat[stat.rfind(")") + 2] == "Z" and "(runc:[" in stat:
                    out.append(int(child))
    return out


def test_probes_leave_no_zombies_and_never_hold_up_a_kill(host, docker):
    """Probes every 50 ms leave no runc zombie in the daemon (seen: one per
    probe), and `rm -f` while a probe's exec is in flight ends at once (seen:
    a stage-2 zombie of the container's pid namespace kept its init from
    exiting, and rm -f timed out after 30 s)."""
    for i in range(12):
        name = f"hc-kill-{i}"
        docker("run", "-d", "--name", name, "--health-cmd", "exit 3" if i % 3 else "sleep 9",
               "--health-interval", "20ms", "--health-timeout", "120ms", "busybox",
               "sleep", "600")
        deadline = time.monotonic() + 30
        while len((health(host, name) or {}).get("Log") or []) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        status, body = host.api("DELETE", f"/containers/{name}?force=1", timeout=25)
        assert status == 204, (status, body, time.monotonic() - t0)
    deadline = time.monotonic() + 10
    while _runc_zombies(host.proc.pid):
        assert time.monotonic() < deadline, _runc_zombies(host.proc.pid)
        time.sleep(0.05)


def _epoch(ts: str) -> float:
    """Seconds of one of boxnetd's RFC 3339 UTC timestamps."""
    main, _, frac = ts.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))


def test_no_probe_runs_while_paused(host, docker):
    """`docker pause` freezes the container: no probe starts in it (runc would
    refuse the exec), the one in flight is dropped, Status shows unhealthy as
    dockerd's; after unpause the probes go on and it turns healthy again.
    Three pauses: a probe is due during each one."""
    docker("run", "-d", "--name", "hc-pause", "--health-cmd", "true", "--health-interval",
           "50ms", "--health-timeout", "200ms", "busybox", "sleep", "600")
    try:
        for _ in range(3):
            wait_health(host, "hc-pause", "healthy")
            docker("pause", "hc-pause")
            t_pause = time.time()
            assert health(host, "hc-pause")["Status"] == "unhealthy"   # dockerd's, when paused
            time.sleep(0.5)   # 10 intervals: an absence can only be shown by waiting
            t_unpause = time.time()
            docker("unpause", "hc-pause")
            deadline = time.monotonic() + 30
            while True:
                log = health(host, "hc-pause")["Log"]
                if sum(_epoch(e["Start"]) > t_unpause for e in log) >= 2:
                    break
                assert time.monotonic() < deadline
                time.sleep(0.01)
            during = [e for e in log if t_pause + 0.01 < _epoch(e["Start"]) < t_unpause]
            assert not during, (t_pause, t_unpause, log)
            assert all(e["ExitCode"] == 0 for e in log), log
        assert health(host, "hc-pause")["Status"] == "healthy"
    finally:
        docker("rm", "-f", "hc-pause")
