"""Interoperability with Docker's own daemon through one registry storage:
an image boxnet pushes is pulled and run by dockerd, and an image dockerd
pushes (gzip layers, Docker's manifest) is pulled and run by boxnet.  Both
daemons run in bench netns (bench/peers), each with docker-registry on its
own 127.0.0.1:5000 serving the same storage directory."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(shutil.which("dockerd") is None, reason="dockerd not installed")]


def post(peer, path):
    """POST a streaming endpoint on a peer: (status, last JSON line)."""
    from bench.scenarios.pull import _UnixConnection
    c = _UnixConnection(peer.sock, 300)
    try:
        c.request("POST", path, headers={"X-Registry-Auth": "e30="})
        r = c.getresponse()
        out = r.read().decode()
    finally:
        c.close()
    return r.status, (out.strip().splitlines() or [""])[-1]


def run_logs(peer, image, cmd):
    """Run a container to its end on a peer; its stdout."""
    cid = peer.api.request("POST", "/containers/create", body={"Image": image, "Cmd": cmd})["Id"]
    peer.api.request("POST", f"/containers/{cid}/start")
    peer.api.request("POST", f"/containers/{cid}/wait")
    out = peer.api.request("GET", f"/containers/{cid}/logs", query={"stdout": 1})
    peer.api.request("DELETE", f"/containers/{cid}", query={"force": 1})
    return out


def test_push_and_pull_between_boxnet_and_dockerd():
    """boxnet -> registry -> dockerd, and dockerd -> registry -> boxnet."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.peers.boxnet import BoxnetPeer
    from bench.peers.docker import DockerPeer
    from bench.scenarios.pull import ADDR, _config, _serve
    work = Path(tempfile.mkdtemp(prefix="bxb-interop-"))
    (work / "storage").mkdir()
    bx, dk = BoxnetPeer(), DockerPeer()
    try:
        bx.start()
        dk.start()
        _serve(bx.host, _config(work / "storage", bx.host.tmp / "registry.yml"))
        _serve(dk.host, _config(work / "storage", dk.host.tmp / "registry.yml"))
        bx.api.request("POST", "/images/busybox:latest/tag", query={"repo": f"{ADDR}/x/bb",
                                                                    "tag": "1"})
        status, last = post(bx, f"/images/{ADDR}/x/bb/push?tag=1")
        assert status == 200 and '"aux"' in last, last
        status, last = post(dk, f"/images/create?fromImage={ADDR}/x/bb&tag=1")
        assert status == 200 and "Downloaded newer image" in last, last
        assert "from-boxnet" in run_logs(dk, f"{ADDR}/x/bb:1", ["echo", "from-boxnet"])
        dk.api.request("POST", "/images/busybox:latest/tag", query={"repo": f"{ADDR}/x/dbb",
                                                                    "tag": "1"})
        status, last = post(dk, f"/images/{ADDR}/x/dbb/push?tag=1")
        assert status == 200 and '"aux"' in last, last
        status, last = post(bx, f"/images/create?fromImage={ADDR}/x/dbb&tag=1")
        assert status == 200 and "Downloaded newer image" in last, last
        assert "from-docker" in run_logs(bx, f"{ADDR}/x/dbb:1", ["echo", "from-docker"])
    finally:
        bx.stop()
        dk.stop()
        subprocess.run(["rm", "-rf", str(work)])
