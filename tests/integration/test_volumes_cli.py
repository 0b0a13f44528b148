"""`boxnet volume ...` (create, ls with filters and formats, inspect, rm, prune with -a
and --filter) and `boxnet run -v` against boxnetd, with the data seen from inside a
container; output as docker 28 prints it."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.kernel


def out(h, *args: str) -> str:
    return h.cli(*args).stdout.strip()


def test_volume_commands(host):
    h = host
    assert out(h, "volume", "create", "--label", "team=a", "cliv") == "cliv"
    assert out(h, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "--name",
               "clitmp") == "clitmp"
    table = out(h, "volume", "ls").splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert ["local", "cliv"] in [line.split() for line in table[1:]]
    assert out(h, "volume", "ls", "-q", "--filter", "label=team=a") == "cliv"
    assert out(h, "volume", "ls", "--format", "{{.Name}} {{.Label \"team\"}}", "--filter",
               "name=cliv") == "cliv a"
    info = json.loads(out(h, "volume", "inspect", "cliv", "clitmp"))
    assert [v["Name"] for v in info] == ["cliv", "clitmp"]
    assert info[1]["Options"] == {"type": "tmpfs", "device": "tmpfs"}
    assert out(h, "volume", "inspect", "-f", "{{.Driver}}", "cliv") == "local"
    r = h.cli("volume", "inspect", "nope-vol", check=False)
    assert r.returncode == 1 and "no such volume" in r.stderr
    h.cli("run", "--rm", "-v", "cliv:/d", "busybox", "sh", "-c", "echo cli > /d/f")
    assert out(h, "run", "--rm", "-v", "cliv:/d", "busybox", "cat", "/d/f") == "cli"
    cid = out(h, "run", "-d", "-v", "cliv:/d", "busybox", "sleep", "600")
    r = h.cli("volume", "rm", "cliv", check=False)
    assert r.returncode == 1 and "volume is in use" in r.stderr
    h.cli("rm", "-f", cid)
    assert out(h, "volume", "prune", "-f") == "Total reclaimed space: 0B"   # named: kept
    pruned = out(h, "volume", "prune", "-a", "-f", "--filter", "label=team=a")
    assert pruned.splitlines()[:2] == ["Deleted Volumes:", "cliv"], pruned
    assert pruned.splitlines()[-1] == "Total reclaimed space: 4B"
    assert out(h, "volume", "rm", "clitmp") == "clitmp"
    assert "clitmp" not in out(h, "volume", "ls", "-q").split()
