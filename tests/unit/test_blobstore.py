"""The blob store and layer snapshots without a registry: a blob is stored
under its digest only when digest and size match; a short, long or altered
stream keeps nothing; concurrent fetches share one download; gc keeps what
is used.  Snapshots: chain ids as OCI defines them, clones share file inodes
and keep modes, owners and symlinks."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from boxnet.errors import InvalidParameter
from boxnet.registry.blobs import BlobStore
from boxnet.registry.snapshots import Snapshots, chain_ids, clone_tree

DATA = b"layer bytes " * 5000
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def opener(data: bytes, calls: list | None = None, delay: float = 0):
    async def open_stream():
        if calls is not None:
            calls.append(1)

        async def chunks():
            for i in range(0, len(data), 4096):
                if delay:
                    await asyncio.sleep(delay)
                yield data[i:i + 4096]
        return chunks()
    return open_stream


def test_verified_blob_is_stored(tmp_path):
    bs = BlobStore(str(tmp_path))
    seen = []
    path = asyncio.run(bs.fetch(DIGEST, len(DATA), opener(DATA), seen.append))
    assert open(path, "rb").read() == DATA and bs.has(DIGEST) and seen[-1] == len(DATA)


@pytest.mark.parametrize("data,size,words", [
    (DATA[:-1], len(DATA), "cut short"),
    (DATA + b"x", len(DATA), "more than"),
    (DATA[:-1] + b"X", len(DATA), "verification failed"),
])
def test_bad_streams_keep_nothing(tmp_path, data, size, words):
    bs = BlobStore(str(tmp_path))
    with pytest.raises(InvalidParameter, match=words):
        asyncio.run(bs.fetch(DIGEST, size, opener(data)))
    assert os.listdir(bs.dir) == []


def test_concurrent_fetches_download_once(tmp_path):
    bs = BlobStore(str(tmp_path))
    calls: list = []

    async def both():
        return await asyncio.gather(*(bs.fetch(DIGEST, len(DATA), opener(DATA, calls, 0.001))
                                      for _ in range(3)))
    paths = asyncio.run(both())
    assert len(set(paths)) == 1 and calls == [1]


def test_gc_and_stale_temp_files(tmp_path):
    bs = BlobStore(str(tmp_path))
    asyncio.run(bs.fetch(DIGEST, len(DATA), opener(DATA)))
    open(os.path.join(bs.dir, ".tmp-left-by-a-crash"), "w").close()
    bs = BlobStore(str(tmp_path))              # reopened: the temp file is gone
    assert os.listdir(bs.dir) == [DIGEST[7:]]
    assert bs.gc({DIGEST}) == [] and bs.gc(set()) == [DIGEST]


def test_chain_ids():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]


def test_clone_shares_inodes_and_keeps_metadata(tmp_path):
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "f.txt").write_text("x")
    os.symlink("d", src / "link")
    os.chmod(src / "d", 0o710)
    root = os.geteuid() == 0
    if root:
        os.chown(src / "d" / "e", 1234, 5678)
    clone_tree(str(src), str(tmp_path / "dst"))
    dst = tmp_path / "dst"
    assert os.stat(src / "d" / "f.txt").st_ino == os.stat(dst / "d" / "f.txt").st_ino
    assert os.readlink(dst / "link") == "d"
    assert os.stat(dst / "d").st_mode & 0o7777 == 0o710
    st = os.stat(dst / "d" / "e")
    if root:
        assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_snapshots_longest_and_gc(tmp_path):
    snaps = Snapshots(str(tmp_path))
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "a").write_text("1")
    chains = chain_ids(["sha256:" + "1" * 64, "sha256:" + "2" * 64])
    snaps.save(chains[0], str(root))
    assert snaps.longest(chains) == 1
    snaps.restore(chains[0], str(tmp_path / "copy"))
    assert (tmp_path / "copy" / "a").read_text() == "1"
    assert snaps.gc({chains[0]}) == [] and snaps.gc(set()) == [chains[0]]
    assert snaps.longest(chains) == 0


def test_a_waiter_fetches_again_when_the_shared_download_fails(tmp_path):
    bs = BlobStore(str(tmp_path))

    async def both():
        bad = asyncio.ensure_future(bs.fetch(DIGEST, len(DATA), opener(DATA[:-1], delay=0.001)))
        await asyncio.sleep(0.002)
        good = asyncio.ensure_future(bs.fetch(DIGEST, len(DATA), opener(DATA)))
        return await asyncio.gather(bad, good, return_exceptions=True)
    bad, good = asyncio.run(both())
    assert isinstance(bad, InvalidParameter) and open(good, "rb").read() == DATA
