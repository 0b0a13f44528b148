"""`docker logs` with --timestamps, --since, --until and --tail (and -f), through
the docker CLI and docker-py, on the times the container really wrote its lines
(the log clock, runtime/logclock.py)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.kernel
docker = pytest.importorskip("docker", reason="docker-py is not installed")
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
GAP = 2.0


def cli(host, tmp, *args, check=True):
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp),
               DOCKER_CLI_HINTS="false")
    r = subprocess.run([DOCKER, *args], env=env, capture_output=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout.decode(), r.stderr.decode()


def _parse(ts: str) -> float:
    head, frac = ts.rstrip("Z").split(".")
    assert len(frac) == 9, ts   # Docker's fixed nine digits
    return dt.datetime.fromisoformat(head + "+00:00").timestamp() + int(frac) / 1e9


@pytest.fixture(scope="module")
def client(host):
    cl = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
    yield cl
    cl.close()


@pytest.fixture(scope="module")
def writer(client):
    """A container that writes a, A (stderr), then GAP s later b, then sleeps."""
    t0 = time.time()
    c = client.containers.run(
        "busybox", ["sh", "-c", f"echo a; echo A >&2; sleep {GAP}; echo b; sleep 600"],
        name="logs-times", detach=True)
    deadline = time.monotonic() + 30
    while b"b\n" not in c.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    yield c, t0
    c.remove(force=True)


def test_timestamps_are_the_write_times(host, writer, tmp_path):
    c, t0 = writer
    out, err = cli(host, tmp_path, "logs", "-t", "logs-times")
    stamps = {}
    for stream in (out, err):
        for line in stream.splitlines():
            ts, _, text = line.partition(" ")
            stamps[text] = _parse(ts)
    assert set(stamps) == {"a", "A", "b"}, (out, err)
    assert t0 - 1 <= stamps["a"] <= t0 + 10
    assert stamps["b"] - stamps["a"] >= GAP - 0.3, stamps
    assert abs(stamps["A"] - stamps["a"]) < 0.5


def test_since_until_tail(host, client, writer, tmp_path):
    c, _ = writer
    lines = client.api.logs(c.id, timestamps=True).decode().splitlines()
    when = {ln.split(" ", 1)[1]: _parse(ln.split(" ", 1)[0]) for ln in lines}
    middle = (when["a"] + when["b"]) / 2
    # the CLI sends since/until as seconds.nanoseconds
    out, err = cli(host, tmp_path, "logs", "--since", f"{middle:.9f}", "logs-times")
    assert out == "b\n" and err == ""
    out, err = cli(host, tmp_path, "logs", "--until", f"{middle:.9f}", "logs-times")
    assert out == "a\n" and err == "A\n"
    iso = dt.datetime.fromtimestamp(middle, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out, _ = cli(host, tmp_path, "logs", "--since", iso, "logs-times")
    assert out == "b\n"
    out, _ = cli(host, tmp_path, "logs", "--tail", "1", "-t", "logs-times")
    assert out.endswith(" b\n") and abs(_parse(out.split()[0]) - when["b"]) < 1e-6
    # docker-py: datetimes and ints, merged in time order
    assert client.api.logs(c.id, since=dt.datetime.fromtimestamp(middle)) == b"b\n"
    assert client.api.logs(c.id, until=dt.datetime.fromtimestamp(middle)) in (b"a\nA\n",
                                                                              b"A\na\n")
    assert client.api.logs(c.id, since=int(when["b"]) + 2) == b""
    assert client.api.logs(c.id, tail=2, timestamps=False) in (b"A\nb\n", b"a\nb\n")
    assert client.api.logs(c.id, tail=1, stderr=False) == b"b\n"
    # follow until a time: returns once it has passed, with what came before
    t = time.monotonic()
    got = client.api.logs(c.id, stream=False, follow=True, until=int(time.time()) + 2)
    assert 0.5 <= time.monotonic() - t < 15 and got.endswith(b"b\n")
    status, body = host.api("GET", f"/v1.50/containers/{c.id}/logs?stdout=1&since=yesterday")
    assert status == 400 and "since" in body["message"], body


def test_tail_and_plain_logs_unchanged(host, writer, tmp_path):
    out, err = cli(host, tmp_path, "logs", "logs-times")
    assert out == "a\nb\n" and err == "A\n"
    out, err = cli(host, tmp_path, "logs", "--tail", "1", "logs-times")
    assert out == "b\n" and err == ""      # the last line of both streams together
    out, err = cli(host, tmp_path, "logs", "--tail", "2", "logs-times")
    assert out == "b\n" and err == "A\n"
