"""Layer members and imports on the real daemon (issue 14, item 14): a layer
must never write outside its rootfs ("..", writes and whiteouts through
symlinks, hard links outside, device nodes), tar headers are bounded, the
name boxnet/host is reserved, `docker import` ids are config digests, and
the docker CLI shows the daemon's refusal.  Each refusal is a 400 that leaves
`image ls` and the data root unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tarfile

import pytest

from integration import imagetars as it
from integration.loadchecks import one_layer, refused, store_state

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
GOOD_LAYERS = it.layers()


def test_layer_members_never_leave_the_rootfs(host, tmp_path):
    """'..' members, writes and whiteouts through symlinks, hard links outside:
    400, and the host files they aim at are untouched; an absolute member lands
    inside the rootfs; device nodes are not created."""
    victim = tmp_path / f"victim-{secrets.token_hex(4)}"
    victim.mkdir()
    (victim / "keep").write_text("keep\n")
    evil = {
        "dotdot": [it.member("../../../../../" + str(victim)[1:] + "/owned", b"x")],
        "through-symlink": [it.member("evil", type=tarfile.SYMTYPE, linkname=str(victim)),
                            it.member("evil/owned", b"x")],
        "through-relative-symlink": [
            it.member("evil", type=tarfile.SYMTYPE,
                      linkname="../../../../../../" + str(victim)[1:]),
            it.member("evil/owned", b"x")],
        "whiteout-through-symlink": [
            it.member("evil", type=tarfile.SYMTYPE, linkname=str(victim)),
            it.member("evil/.wh.keep", b"")],
        "opaque-through-symlink": [
            it.member("evil", type=tarfile.SYMTYPE, linkname=str(victim)),
            it.member("evil/.wh..wh..opq", b"")],
        "hardlink-dotdot": [it.member("hl", type=tarfile.LNKTYPE, linkname="../../etc/passwd")],
        "hardlink-absolute": [it.member("hl", type=tarfile.LNKTYPE, linkname=str(victim / "keep"))],
    }
    for name, members in evil.items():
        before = store_state(host)
        status, body = one_layer(host, tmp_path, members, f"integ/evil-{name}:1")
        assert status == 400, (name, status, body)
        assert store_state(host) == before, name
        assert sorted(os.listdir(victim)) == ["keep"] and (victim / "keep").read_text() == "keep\n"
    marker = f"bxt-abs-{secrets.token_hex(4)}"
    status, body = one_layer(host, tmp_path, [
        it.member(f"/tmp/{marker}", b"inside\n"),
        it.member("mem", type=tarfile.CHRTYPE, devmajor=1, devminor=1),
        it.member("fifo", type=tarfile.FIFOTYPE)], "integ/abs:1")
    assert status == 200, body
    assert not os.path.exists(f"/tmp/{marker}")
    out = host.cli("run", "--rm", "integ/abs:1", "sh", "-c",
                   f"cat /tmp/{marker}; test -e /mem || echo no-mem; test -e /fifo || echo no-fifo")
    assert out.stdout == "inside\nno-mem\nno-fifo\n", out


def test_huge_tar_headers_and_reserved_name(host, tmp_path):
    """A layer whose PAX header declares 8 MiB (tarfile would read it whole into
    memory) is a 400; an archive or import naming boxnet/host is a 400 (reserved)."""
    with_pax = it.member("big-pax", b"x")
    with_pax[0].pax_headers = {"comment": "x" * (8 << 20)}
    status, body = one_layer(host, tmp_path, [with_pax], "integ/pax:1")
    assert status == 400 and "PAX or long-name" in body["message"], (status, body)
    refused(host, it.docker_archive_files(GOOD_LAYERS, "boxnet/host:latest"), tmp_path,
            "reserved")
    before = store_state(host)
    status, body = host.api("POST", "/images/create?fromSrc=-&repo=boxnet/host&tag=mine",
                            body=it.tar_bytes([it.member("x", b"x")]))
    assert status == 400 and "reserved" in body["message"], (status, body)
    assert store_state(host) == before


def test_import_id_is_config_digest_and_bad_import_stores_nothing(host, tmp_path):
    """docker import: the id is the digest of the stored config, whose diff_id is
    the uncompressed tarball's; a hostile tarball is a 400 and stores nothing."""
    with open(it.BUSYBOX, "rb") as f:
        plain = it.tar_bytes([it.member("bin/busybox", f.read(), mode=0o755),
                              it.member("bin/sh", type=tarfile.SYMTYPE, linkname="busybox")])
    status, body = host.api("POST", "/images/create?fromSrc=-&repo=integ/imp&tag=1",
                            body=gzip.compress(plain),
                            headers={"Content-Type": "application/x-tar"})
    assert status == 200, body
    iid = body["status"]
    cfg = (host.data_root / "images" / iid[7:] / "config.json").read_bytes()
    assert hashlib.sha256(cfg).hexdigest() == iid[7:]
    assert json.loads(cfg)["rootfs"]["diff_ids"] == ["sha256:" + it.sha(plain)]
    out = host.cli("run", "--rm", "integ/imp:1", "sh", "-c", "echo imported").stdout
    assert out == "imported\n"
    before = store_state(host)
    status, body = host.api("POST", "/images/create?fromSrc=-&repo=integ/imp&tag=2",
                            body=it.tar_bytes([it.member("../escape", b"x")]))
    assert status == 400 and ".." in body["message"], body
    assert store_state(host) == before


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK),
                    reason=f"the docker CLI is not installed ({DOCKER})")
def test_docker_cli_load_refuses_tampered(host, tmp_path):
    """`docker load -i` of a tampered archive fails with the daemon's message;
    the good one loads."""
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path / "cfg"))
    files = it.docker_archive_files(GOOD_LAYERS, "integ/cli:1")
    evil = it.tar_bytes([it.member("hello.txt", b"evil\n")])
    bad = [(n, evil if n == f"blobs/sha256/{it.sha(GOOD_LAYERS[1])}" else d) for n, d in files]
    it.write_tar(str(tmp_path / "bad.tar"), bad)
    before = store_state(host)
    r = subprocess.run([DOCKER, "load", "-i", str(tmp_path / "bad.tar")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "tampered" in r.stderr, r
    assert store_state(host) == before
    it.write_tar(str(tmp_path / "good.tar"), files)
    r = subprocess.run([DOCKER, "load", "-i", str(tmp_path / "good.tar")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Loaded image: integ/cli:1" in r.stdout, r
