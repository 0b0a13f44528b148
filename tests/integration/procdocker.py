"""The docker CLI against a test module's boxnetd, and the small helpers the
process-option tests share (test_process_options.py, test_process_namespaces.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """run(*args) -> CompletedProcess of the docker CLI against the module's boxnetd."""
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CLI_HINTS="false",
               DOCKER_CONFIG=str(tmp_path_factory.mktemp("dockercfg")))

    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    return run


def ok(r: subprocess.CompletedProcess) -> str:
    """The stripped stdout of a command that must have succeeded."""
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r.stdout.strip()


def poll(fn, what: str, timeout: float = 30):
    """fn() until it returns a true value (or the deadline: AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
