"""Healthchecks run by boxnetd (issue 16 item 4), seen through the real clients:
probes run inside the container (they read and write its files), State.Health
as Docker shows it, `docker ps` Status and `--filter health=`, docker-py's
list filter, health_status events, the image's HEALTHCHECK and NONE, bad
durations refused with nothing created."""

from __future__ import annotations

import json
import os
import time

import pytest

from integration import imagetars
from integration.healthutil import DOCKER, MS, Docker, health, wait_health

pytestmark = pytest.mark.kernel
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """The docker CLI against the module's boxnetd."""
    return Docker(host, tmp_path_factory.mktemp("dockercfg"))


def test_a_passing_shell_probe_turns_healthy_running_inside_the_container(host, docker):
    """CMD-SHELL through /bin/sh -c, in the container: the probe reads the file
    the container wrote and appends to one only it writes; Log keeps its output."""
    docker("run", "-d", "--name", "hc-ok", "--health-cmd",
           "cat /tmp/ready && echo probe >> /tmp/probes", "--health-interval", "200ms",
           "--health-retries", "2", "busybox", "sh", "-c", "echo up > /tmp/ready; exec sleep 600")
    try:
        h = health(host, "hc-ok")
        assert h is not None and h["Status"] in ("starting", "healthy")
        h = wait_health(host, "hc-ok", "healthy")
        assert h["FailingStreak"] == 0
        entry = h["Log"][-1]
        assert entry["ExitCode"] == 0 and entry["Output"] == "up\n"
        assert entry["Start"] <= entry["End"]
        assert int(docker.out("exec", "hc-ok", "grep", "-c", "probe", "/tmp/probes")) >= 1
        cfg = host.inspect("hc-ok")["Config"]["Healthcheck"]
        assert cfg["Test"] == ["CMD-SHELL", "cat /tmp/ready && echo probe >> /tmp/probes"]
        assert cfg["Interval"] == 200 * MS and cfg["Retries"] == 2
        status = docker.out("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}")
        assert status.startswith("Up ") and status.endswith("(healthy)"), status
    finally:
        docker("rm", "-f", "hc-ok")


def test_the_probe_runs_as_the_containers_user_with_its_env_and_workdir(host, docker):
    """As dockerd's probe: Config.User, Env and WorkingDir of the container."""
    docker("run", "-d", "--name", "hc-who", "--user", "1234:5678", "-e", "WHO=probe-env",
           "-w", "/tmp", "--health-cmd", 'echo "$(id -u):$(id -g) $WHO $(pwd)"',
           "--health-interval", "100ms", "busybox", "sleep", "600")
    try:
        h = wait_health(host, "hc-who", "healthy")
        assert h["Log"][-1]["Output"] == "1234:5678 probe-env /tmp\n"
    finally:
        docker("rm", "-f", "hc-who")


def test_a_probes_output_is_kept_to_4096_bytes(host, docker):
    """stdout and stderr of the probe, 4096 bytes of them and "..." after, as Docker."""
    docker("run", "-d", "--name", "hc-long", "--health-cmd",
           "head -c 3000 /dev/zero | tr '\\0' o; head -c 3000 /dev/zero | tr '\\0' e >&2",
           "--health-interval", "100ms", "busybox", "sleep", "600")
    try:
        out = wait_health(host, "hc-long", "healthy")["Log"][-1]["Output"]
        assert len(out) == 4096 + 3 and out.endswith("...")
        assert set(out[:-3]) == {"o", "e"}, set(out[:-3])
    finally:
        docker("rm", "-f", "hc-long")


def test_a_failing_probe_turns_unhealthy_after_retries(host, docker):
    """ExitCode and Output of each failure in the Log, FailingStreak counts them,
    Status unhealthy only at Retries; the last 5 results kept."""
    docker("run", "-d", "--name", "hc-bad", "--health-cmd", "echo nope-$$; exit 3",
           "--health-interval", "100ms", "--health-retries", "3", "busybox", "sleep", "600")
    try:
        h = wait_health(host, "hc-bad", "unhealthy")
        assert h["FailingStreak"] >= 3
        assert all(e["ExitCode"] == 3 and e["Output"].startswith("nope-") for e in h["Log"])
        # the shell's $$ differs per probe: each ran in its own process in the container
        assert len({e["Output"] for e in h["Log"]}) == len(h["Log"])
        deadline = time.monotonic() + 30
        while len(h["Log"]) < 5 or h["FailingStreak"] < 6:
            assert time.monotonic() < deadline, h
            time.sleep(0.1)
            h = health(host, "hc-bad")
        assert len(h["Log"]) == 5
        status = docker.out("ps", "--filter", "name=hc-bad", "--format", "{{.Status}}")
        assert status.endswith("(unhealthy)"), status
    finally:
        docker("rm", "-f", "hc-bad")


def test_a_hanging_probe_is_killed_at_its_timeout(host, docker):
    """A probe that sleeps past Timeout: ExitCode -1, Docker's message; each
    one is killed (a probe lasting 77 s would pile up: at most the one in flight
    is seen in the container); a restart resets Status and FailingStreak."""
    docker("run", "-d", "--name", "hc-hang", "--health-cmd", "sleep 77",
           "--health-interval", "200ms", "--health-timeout", "300ms", "--health-retries", "1",
           "busybox", "sleep", "600")
    try:
        h = wait_health(host, "hc-hang", "unhealthy")
        e = h["Log"][0]
        assert e["ExitCode"] == -1
        assert e["Output"] == "Health check exceeded timeout (300ms)"
        deadline = time.monotonic() + 30
        while len(health(host, "hc-hang")["Log"]) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        ps = docker.out("exec", "hc-hang", "ps", "-o", "pid,args")
        assert sum("sleep 77" in line for line in ps.splitlines()) <= 1, ps
        docker("stop", "-t", "0", "hc-hang")   # stops the probes; then none is left running
        docker("start", "hc-hang")
        h = health(host, "hc-hang")
        assert h["Status"] == "starting" and h["FailingStreak"] == 0
        assert len(h["Log"]) >= 4               # kept across the restart, as dockerd
    finally:
        docker("rm", "-f", "hc-hang")


def test_start_period_holds_starting_until_a_success(host, docker):
    """Failures inside StartPeriod do not count (status stays starting, streak 0);
    the first success makes it healthy; StartInterval is the rate meanwhile."""
    r = host.api("POST", "/containers/create?name=hc-grace", json={
        "Image": "busybox", "Cmd": ["sh", "-c", "sleep 600"],
        "Healthcheck": {"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 30_000 * MS,
                        "StartPeriod": 60_000 * MS, "StartInterval": 100 * MS, "Retries": 1}})
    assert r[0] == 201, r
    try:
        host.api_ok("POST", "/containers/hc-grace/start")
        deadline = time.monotonic() + 30
        while len((health(host, "hc-grace") or {}).get("Log") or []) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        h = health(host, "hc-grace")
        assert h["Status"] == "starting" and h["FailingStreak"] == 0
        assert all(e["ExitCode"] == 1 for e in h["Log"])
        docker("exec", "hc-grace", "touch", "/tmp/ok")
        wait_health(host, "hc-grace", "healthy", timeout=30)
    finally:
        docker("rm", "-f", "hc-grace")


def test_filters_health_in_docker_ps_and_docker_py(host, docker):
    """`docker ps --filter health=...` and docker-py's containers.list(filters=)."""
    dk = pytest.importorskip("docker")
    docker("run", "-d", "--name", "hf-ok", "--health-cmd", "true", "--health-interval", "100ms",
           "busybox", "sleep", "600")
    docker("run", "-d", "--name", "hf-bad", "--health-cmd", "false", "--health-interval",
           "100ms", "--health-retries", "1", "busybox", "sleep", "600")
    docker("run", "-d", "--name", "hf-none", "busybox", "sleep", "600")
    try:
        wait_health(host, "hf-ok", "healthy")
        wait_health(host, "hf-bad", "unhealthy")

        def ps(value: str) -> set[str]:
            out = docker.out("ps", "--filter", f"health={value}", "--format", "{{.Names}}")
            return {n for n in out.split() if n.startswith("hf-")}
        assert ps("healthy") == {"hf-ok"}
        assert ps("unhealthy") == {"hf-bad"}
        assert ps("none") == {"hf-none"}
        assert ps("starting") == set()
        bad = docker("ps", "--filter", "health=fine", check=False)
        assert bad.returncode != 0 and "Unrecognised filter value for health: fine" in bad.stderr
        cl = dk.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
        try:
            assert [c.name for c in cl.containers.list(filters={"health": "healthy"})
                    if c.name.startswith("hf-")] == ["hf-ok"]
            assert {c.name for c in cl.containers.list(filters={"health": ["unhealthy", "none"]})
                    if c.name.startswith("hf-")} == {"hf-bad", "hf-none"}
            assert cl.containers.get("hf-ok").health == "healthy"
            py = cl.containers.run("busybox", ["sleep", "600"], name="hf-py", detach=True,
                                   healthcheck={"test": ["CMD-SHELL", "echo py"],
                                                "interval": 100 * MS, "retries": 2,
                                                "start_period": 50 * MS})
            try:
                h = wait_health(host, "hf-py", "healthy")
                assert h["Log"][-1]["Output"] == "py\n"
                assert py.attrs["Config"]["Healthcheck"]["StartPeriod"] == 50 * MS
            finally:
                py.remove(force=True)
        finally:
            cl.close()
    finally:
        docker("rm", "-f", "hf-ok", "hf-bad", "hf-none")


def test_events_show_health_status(host, docker):
    """`docker events` prints health_status: healthy with the container's name."""
    since = str(int(time.time()) - 1)
    docker("run", "-d", "--name", "he-ok", "--label", "who=he", "--health-cmd", "true",
           "--health-interval", "100ms", "busybox", "sleep", "600")
    try:
        wait_health(host, "he-ok", "healthy")
        until = str(int(time.time()) + 1)
        out = docker.out("events", "--since", since, "--until", until, "--filter",
                         "container=he-ok", "--format", "{{json .}}")
        evs = [json.loads(line) for line in out.splitlines()]
        actions = [e["Action"] for e in evs]
        assert "health_status: healthy" in actions, actions
        ev = evs[actions.index("health_status: healthy")]
        assert ev["Actor"]["Attributes"]["name"] == "he-ok"
        assert ev["Actor"]["Attributes"]["who"] == "he"
        assert actions.index("start") < actions.index("health_status: healthy")
        only = docker.out("events", "--since", since, "--until", until, "--filter",
                          "container=he-ok", "--filter", "event=health_status",
                          "--format", "{{.Action}}")
        assert only.splitlines() == ["health_status: healthy"], only
    finally:
        docker("rm", "-f", "he-ok")


def _image_with_healthcheck(path: str, tag: str) -> None:
    """A docker-archive whose image config has a HEALTHCHECK (as a Dockerfile's)."""
    layers = imagetars.layers()
    cfg = json.loads(imagetars.config([f"sha256:{imagetars.sha(x)}" for x in layers]))
    cfg["config"]["Cmd"] = ["sleep", "600"]
    cfg["config"]["Healthcheck"] = {"Test": ["CMD-SHELL", "cat /keep.txt"],
                                    "Interval": 100 * MS, "Retries": 2}
    blob = json.dumps(cfg).encode()
    imagetars.write_tar(path, imagetars.docker_archive_files(layers, tag, cfg=blob))


def test_the_images_healthcheck_runs_and_none_disables_it(host, docker, tmp_path):
    """An image's HEALTHCHECK is merged (the container's fields override it);
    --no-healthcheck (Test NONE) leaves the container without State.Health."""
    path = str(tmp_path / "hc-image.tar")
    _image_with_healthcheck(path, "hc-image:1")
    docker("load", "-i", path)
    try:
        docker("run", "-d", "--name", "hi-img", "--health-retries", "5", "hc-image:1")
        docker("run", "-d", "--name", "hi-none", "--no-healthcheck", "hc-image:1")
        img = host.api_ok("GET", "/images/hc-image:1/json")["Config"]
        assert img["Healthcheck"]["Test"] == ["CMD-SHELL", "cat /keep.txt"]
        assert "Healthcheck" not in host.api_ok("GET", "/images/busybox/json")["Config"]
        h = wait_health(host, "hi-img", "healthy")
        assert h["Log"][-1]["Output"] == "kept from layer 1\n"
        cfg = host.inspect("hi-img")["Config"]["Healthcheck"]
        assert cfg["Test"] == ["CMD-SHELL", "cat /keep.txt"] and cfg["Retries"] == 5
        assert cfg["Interval"] == 100 * MS
        assert host.inspect("hi-none")["Config"]["Healthcheck"]["Test"] == ["NONE"]
        deadline = time.monotonic() + 30   # hi-img probed 3 times: hi-none had the time too
        while len(health(host, "hi-img")["Log"]) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert health(host, "hi-none") is None
        status = docker.out("ps", "--filter", "name=hi-none", "--format", "{{.Status}}")
        assert "health" not in status and "(" not in status, status
    finally:
        docker("rm", "-f", "hi-img", "hi-none", check=False)
        docker("rmi", "hc-image:1", check=False)


@pytest.mark.parametrize("field,value,message", [
    ("Interval", -1_000_000_000, "Interval in Healthcheck cannot be less than 1ms"),
    ("Timeout", -5, "Timeout in Healthcheck cannot be less than 1ms"),
    ("StartPeriod", 10, "StartPeriod in Healthcheck cannot be less than 1ms"),
    ("StartInterval", -1, "StartInterval in Healthcheck cannot be less than 1ms"),
    ("Retries", -1, "Retries in Healthcheck cannot be negative")])
def test_bad_durations_are_a_400_and_nothing_is_created(host, field, value, message):
    before = host.api_ok("GET", "/containers/json?all=1")
    status, body = host.api("POST", "/containers/create?name=hc-neg", json={
        "Image": "busybox", "Cmd": ["true"],
        "Healthcheck": {"Test": ["CMD", "true"], field: value}})
    assert status == 400 and body["message"] == message, (status, body)
    assert host.api_ok("GET", "/containers/json?all=1") == before
    assert host.api("GET", "/containers/hc-neg/json")[0] == 404


def test_the_cli_refuses_a_negative_interval_and_creates_nothing(host, docker):
    r = docker("run", "-d", "--name", "hc-cli-neg", "--health-cmd", "true",
               "--health-interval", "-1s", "busybox", "sleep", "1", check=False)
    assert r.returncode != 0
    assert docker("inspect", "hc-cli-neg", check=False).returncode != 0
