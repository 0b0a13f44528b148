"""Smoke test of the benchmark harness: tiny scenarios end to end, real kernel and peers.

Runs the control-plane scenario with 3 repetitions against the raw floor (and boxnet when its
daemon works), and the scale scenario (quick) against the raw floor, then checks the
results files and that nothing the bench made is left behind.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")]


def _bxb_netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith("bxb-")}


def _bench(tmp_path, *args) -> dict:
    before = _bxb_netns()
    res = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path),
                          *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert _bxb_netns() - before == set(), "the bench left a netns behind"
    assert (tmp_path / "latest.md").exists()
    return json.loads((tmp_path / "latest.json").read_text())


def test_control_plane_attach_end_to_end(tmp_path):
    data = _bench(tmp_path, "--only", "control_plane", "--peers", "rawfloor,boxnet",
                  "--reps", "3")
    sc = data["scenarios"]["control_plane"]
    floor = sc["metrics"]["attach"]["peers"]["rawfloor"]
    assert floor["n"] == 3 and 0 < floor["median"] < 1000  # ms
    assert floor["p10"] <= floor["median"] <= floor["p90"]
    assert "docker" not in sc["metrics"]["attach"]["peers"]  # not selected
    if "boxnet" not in sc["skipped"]:
        assert sc["metrics"]["attach"]["peers"]["boxnet"]["n"] == 3
    goals = {g["goal"]: g["status"] for g in sc["goals"]}
    assert goals["network create: at most a tenth of Docker's"] == "not measured"
    md = (tmp_path / "latest.md").read_text()
    assert "| attach (connect / setup / ADD) (ms) | rawfloor |" in md


def test_scale_writes_plots(tmp_path):
    data = _bench(tmp_path, "--only", "scale", "--peers", "rawfloor")
    curve = data["scenarios"]["scale"]["curves"]["containers"]["peers"]["rawfloor"]
    assert len(curve) == 50
    assert (tmp_path / "scale_containers.png").stat().st_size > 1000
