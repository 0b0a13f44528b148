"""`boxnet start -a` against boxnetd: the restarted container's output reaches the terminal
and the CLI exits with its status (the flag was accepted and ignored before)."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.kernel


def test_start_attach_shows_output_and_status(host):
    h = host
    h.cli("run", "-d", "--name", "again", "busybox", "sh", "-c", "echo run-$$; exit 3")
    deadline = time.monotonic() + 30
    while json.loads(h.cli("inspect", "again").stdout)[0]["State"]["Status"] != "exited":
        assert time.monotonic() < deadline, "the first run never exited"
        time.sleep(0.1)
    r = h.cli("start", "-a", "again", check=False)
    assert r.returncode == 3, r.stderr
    assert r.stdout.startswith("run-") and r.stdout.count("run-") == 1, r.stdout
    r = h.cli("start", "-a", "again", "nosuch", check=False)
    assert r.returncode == 1 and "cannot start and attach multiple" in r.stderr
    h.cli("rm", "-f", "again")
