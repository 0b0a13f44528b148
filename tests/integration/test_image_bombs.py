"""Decompression bombs and huge declared sizes on the real daemon (issue 14,
item 14), against a daemon whose data root is a 96 MiB tmpfs so that the
bound (the data root's free space, less a reserve) is reached in a second:
each is a 400 naming the limit, nothing is stored, and a small image still
loads after.
"""

from __future__ import annotations

import gzip
import json
import tarfile

import pytest

from integration import harness, imagetars as it
from integration.loadchecks import load, refused, store_state

pytestmark = pytest.mark.kernel
GOOD_LAYERS = it.layers()


def gz_zero_tar(path, members: list[tuple[str, int]]) -> bytes:
    """A gzip'd tar of members full of zeros (written streaming; its bytes returned)."""
    with gzip.open(path, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as t:
        for name, size in members:
            ti = tarfile.TarInfo(name)
            ti.size = size
            with open("/dev/zero", "rb") as z:
                t.addfile(ti, z)
    return path.read_bytes()


@pytest.fixture(scope="module")
def small_host():
    """A daemon whose data root is a 96 MiB tmpfs (bombs reach its limit fast)."""
    h = harness.TestHost()
    try:
        harness.run(["mount", "-t", "tmpfs", "-o", "size=96m", "bxt-small", str(h.data_root)])
        h.start()
        yield h
    finally:
        problems = h.teardown()
        assert not problems, problems


def test_decompression_bomb_and_huge_member(small_host, tmp_path):
    """A gzip layer of 400 MiB of zeros (~400 KiB compressed), a member that
    declares 1 TiB, a compressed archive bomb and an import bomb: each a 400
    naming the limit; nothing stored, and a small image still loads after."""
    h = small_host
    layer = gz_zero_tar(tmp_path / "bomb.tar.gz", [("zeros", 200 << 20)])
    assert len(layer) < 1 << 20
    cfg = it.config(["sha256:" + "0" * 64])  # never reached: the budget stops first
    files = [("l0/layer.tar", layer), (f"{it.sha(cfg)}.json", cfg),
             ("manifest.json", json.dumps([{"Config": f"{it.sha(cfg)}.json", "RepoTags": ["b:1"],
                                            "Layers": ["l0/layer.tar"]}]).encode())]
    refused(h, files, tmp_path, "decompression bomb")
    huge = tarfile.TarInfo("huge")
    huge.size = 1 << 40
    hdr = huge.tobuf(tarfile.PAX_FORMAT)
    files[0] = ("l0/layer.tar", gzip.compress(hdr + b"\0" * 1024))
    refused(h, files, tmp_path, "'huge'", "declares 1.0 TiB")
    outer = gz_zero_tar(tmp_path / "outer.tar.gz", [(f"z{i}", 1 << 20) for i in range(150)])
    refused(h, outer, tmp_path, "compressed archive", "grows past")
    many = gz_zero_tar(tmp_path / "many.tar.gz", [(f"z{i}", 1 << 20) for i in range(150)])
    files[0] = ("l0/layer.tar", many)
    refused(h, files, tmp_path, "decompression bomb")
    before = store_state(h)
    status, body = h.api("POST", "/images/create?fromSrc=-&repo=bomb", body=layer)
    assert status == 400 and "decompression bomb" in body["message"], body
    assert store_state(h) == before
    status, body = load(h, it.docker_archive_files(GOOD_LAYERS, "small/ok:1"), tmp_path)
    assert status == 200, body
    assert h.cli("run", "--rm", "small/ok:1", "cat", "/hello.txt").stdout == "hello from layer 2\n"
