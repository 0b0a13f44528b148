"""runtime/layerstream.py and runtime/archive.py logic: digests of raw and
uncompressed streams, compression detection, the byte budget, bounded tar
headers, paths kept inside an archive (no daemon, no kernel)."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import tarfile

import pytest

from boxnet.errors import InvalidParameter
from boxnet.runtime.archive import safe_path
from boxnet.runtime.layers import apply_layer
from boxnet.runtime.layerstream import Budget, HashingReader, compression, finish, open_stream

PLAIN = b"hello layer " * 5000


@pytest.mark.parametrize("pack,kind", [(lambda b: b, ""), (gzip.compress, "gzip"),
                                       (bz2.compress, "bzip2"), (lzma.compress, "xz")])
def test_digests_of_raw_and_plain(pack, kind):
    raw = pack(PLAIN)
    assert compression(raw[:6]) == kind
    plain, rawr = open_stream(io.BytesIO(raw), None, "t")
    assert plain.read(3) == PLAIN[:3]       # a short first read, then the rest
    assert finish(plain, rawr) == ("sha256:" + hashlib.sha256(PLAIN).hexdigest(),
                                   "sha256:" + hashlib.sha256(raw).hexdigest())


def test_head_bytes_are_returned_once():
    r = HashingReader(io.BytesIO(b"cdef"), head=b"ab")
    assert r.read(1) == b"a" and r.read(5) == b"b" and r.read(-1) == b"cdef" and r.read() == b""
    assert r.size == 6 and r.digest() == "sha256:" + hashlib.sha256(b"abcdef").hexdigest()


def test_zstd_is_decoded_and_a_broken_stream_is_an_os_error():
    """zstd layers (registries serve them: OCI +zstd) decode; garbage after the
    magic is an OSError (callers' STREAM_ERRORS), never another exception."""
    import zstandard
    data = b"layer bytes " * 1000
    plain, raw = open_stream(io.BytesIO(zstandard.ZstdCompressor().compress(data)), None, "l")
    assert plain.read(-1) == data
    plain, _ = open_stream(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 20), None, "layer 1")
    with pytest.raises(OSError, match="zstd"):
        plain.read(100)


def test_budget_counts_every_byte(tmp_path):
    budget = Budget(str(tmp_path))
    budget.bytes_left = 100
    r = HashingReader(io.BytesIO(b"x" * 150), budget, "the layer")
    r.read(80)
    with pytest.raises(InvalidParameter, match="the layer: .*decompression bomb"):
        r.read(80)


def test_budget_refuses_a_declared_size(tmp_path):
    budget = Budget(str(tmp_path))
    m = tarfile.TarInfo("big")
    m.size = budget.bytes_left + 1
    with pytest.raises(InvalidParameter, match="'big'"):
        budget.member(m, "layer 2")


def test_oversized_pax_header_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("f")
        ti.pax_headers = {"comment": "y" * (2 << 20)}
        t.addfile(ti, io.BytesIO(b""))
    buf.seek(0)
    with pytest.raises(InvalidParameter, match="PAX or long-name"):
        apply_layer(buf, str(tmp_path))


def test_apply_layer_returns_the_diff_id(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("a.txt")
        ti.size = 3
        t.addfile(ti, io.BytesIO(b"abc"))
    data = buf.getvalue()
    diff_id, blob = apply_layer(io.BytesIO(gzip.compress(data)), str(tmp_path))
    assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest() != blob
    assert (tmp_path / "a.txt").read_bytes() == b"abc"


@pytest.mark.parametrize("path", ["../x", "/abs", "a/../../x", "..", "", "a\0b", None, 3])
def test_paths_outside_the_archive(path):
    with pytest.raises(InvalidParameter):
        safe_path(path, "manifest.json")


def test_paths_inside_the_archive():
    assert safe_path("./blobs/sha256/ab", "x") == "blobs/sha256/ab"
    assert safe_path("a/../b", "x") == "b"
