"""Helpers of the healthcheck tests: the docker CLI on a TestHost, State.Health
through the API, and a poll for a status with a deadline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
MS = 1_000_000


class Docker:
    """The docker CLI pointed at one TestHost's socket."""

    def __init__(self, host, tmp):
        self.host = host
        self.env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp),
                        DOCKER_CLI_HINTS="false")

    def __call__(self, *args: str, check: bool = True, timeout: float = 60):
        r = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def out(self, *args: str) -> str:
        """stdout of a successful command, stripped."""
        return self(*args).stdout.strip()

    def events(self, since: str, *filters: str) -> list[dict]:
        """`docker events` from `since` to a second from now with `filters`, as JSON."""
        until = str(int(time.time()) + 1)
        args = [x for f in filters for x in ("--filter", f)]
        out = self.out("events", "--since", since, "--until", until, *args,
                       "--format", "{{json .}}")
        return [json.loads(line) for line in out.splitlines()]


def health(host, name: str) -> dict | None:
    """State.Health of a container through the API."""
    return host.inspect(name)["State"].get("Health")


def wait_health(host, name: str, status: str, timeout: float = 60) -> dict:
    """Poll inspect until State.Health.Status is `status` (deadline: `timeout`)."""
    deadline = time.monotonic() + timeout
    h = None
    while time.monotonic() < deadline:
        h = health(host, name)
        if h and h["Status"] == status:
            return h
        time.sleep(0.1)
    raise AssertionError(f"{name}: health never {status}: {h}")
