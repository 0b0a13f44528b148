"""The tar stream of `docker cp` into a container (runtime/cpbody.py): the fast
header parse gives what tarfile's gives (or defers to it) on the headers
tarfile writes and on mutated ones, FdBody reads a tar of many small files
through a pipe byte-exact, and the PUT route's socket reads are sized below
the daemon's mmap threshold only while the body is read."""

from __future__ import annotations

import asyncio
import io
import os
import random
import socket
import tarfile
import threading

import pytest

from boxnet.api.routes import archive
from boxnet.kernel.malloc import MMAP_THRESHOLD
from boxnet.runtime.cpbody import FastTarInfo, open_tar

ENC, ERR = "utf-8", "surrogateescape"
FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname",
          "uname", "gname", "devmajor", "devminor", "_sparse_structs")


def _headers() -> list[bytes]:
    """Headers tarfile writes: every format, the fast types and the others."""
    out = []
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
            for name, typ, extra in (
                    ("f.txt", tarfile.REGTYPE, {"size": 5}),
                    ("dir/", tarfile.DIRTYPE, {"mode": 0o1777}),
                    ("a/" * 60 + "deep", tarfile.REGTYPE, {}),      # the ustar prefix
                    ("sym", tarfile.SYMTYPE, {"linkname": "../t"}),
                    ("hard", tarfile.LNKTYPE, {"linkname": "f.txt"}),
                    ("fifo", tarfile.FIFOTYPE, {}),
                    ("dev", tarfile.CHRTYPE, {"devmajor": 1, "devminor": 3}),
                    ("caf\u00e9", tarfile.REGTYPE, {"uid": 1 << 20, "mtime": 1 << 33}),
                    ("big-id", tarfile.REGTYPE, {"uid": 1 << 40}),   # base-256 in GNU
                    ("x" * 150, tarfile.REGTYPE, {})):                 # long name
                ti = tarfile.TarInfo(name)
                ti.type = typ
                for k, v in extra.items():
                    setattr(ti, k, v)
                try:
                    t.addfile(ti, io.BytesIO(b"\0" * ti.size) if ti.isreg() else None)
                except ValueError:
                    continue   # not expressible in this format
        raw = buf.getvalue()
        out += [raw[i:i + 512] for i in range(0, len(raw), 512)]
    return out


def _parse(cls, buf: bytes):
    """(fields, None) or (None, the exception's type)."""
    try:
        ti = cls.frombuf(buf, ENC, ERR)
    except Exception as e:   # noqa: BLE001 - the type is what is compared
        return None, type(e)
    return {k: getattr(ti, k, None) for k in FIELDS}, None


def _with_chksum(buf: bytearray, signed: bool = False) -> bytes:
    buf[148:156] = b" " * 8
    total = sum(b - 256 if signed and b > 127 else b for b in buf)
    buf[148:156] = b"%06o\0 " % (total & 0o777777)
    return bytes(buf)


def test_fast_parse_equals_tarfiles_on_written_headers():
    hdrs = _headers()
    fast = [h for h in hdrs if h[156:157] in b"0125" and h[257:262] == b"ustar"]
    assert len(fast) >= 20   # the fast path is exercised, not only the fallback
    for h in hdrs:
        assert _parse(FastTarInfo, h) == _parse(tarfile.TarInfo, h), h[:100]


def test_fast_parse_equals_tarfiles_on_mutated_headers():
    rnd = random.Random(16)
    hdrs = [h for h in _headers() if h.count(0) != 512]
    nasty = b"\0\x80\xff /0789a-_+x\n\xe9"
    for i in range(4000):
        buf = bytearray(rnd.choice(hdrs))
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.choice([rnd.randrange(512), rnd.randrange(100, 160),
                              rnd.randrange(329, 345), 156, 257, 345])
            buf[pos] = rnd.choice(nasty)
        if i % 4:   # mostly a valid checksum, so the fields themselves are compared
            h = _with_chksum(buf, signed=i % 4 == 3)
        else:
            h = bytes(buf)
        assert _parse(FastTarInfo, h) == _parse(tarfile.TarInfo, h), h


def test_a_tar_of_many_small_files_through_a_pipe_is_exact(tmp_path):
    rnd = random.Random(7)
    files = {f"d{i % 5}/f{i}": rnd.randbytes(rnd.choice([0, 1, 511, 512, 513, 4096, 70_000]))
             for i in range(300)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    r, w = os.pipe()
    feeder = threading.Thread(target=_feed, args=(w, buf.getvalue()))
    feeder.start()
    got = {}
    with os.fdopen(r, "rb", buffering=0) as f, open_tar(f) as tar:
        for m in tar:
            fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            try:
                assert tar.fileobj.move_to(fd, m.size) == m.size
                got[m.name] = os.pread(fd, m.size + 1, 0)
            finally:
                os.close(fd)
    feeder.join()
    assert got == files


def _feed(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:65536]):]
    os.close(fd)


async def test_put_reads_below_the_mmap_threshold_only_while_the_body_is_read():
    assert archive.RECV < MMAP_THRESHOLD
    a, b = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=a)
    try:
        default = type(transport).max_size
        assert default > archive.RECV   # what asyncio reads otherwise
        with archive._HeapSizedReads(transport):
            assert transport.max_size == archive.RECV
        assert transport.max_size == default
    finally:
        transport.close()
        b.close()

    class Bare:   # a transport with no such size (uvloop's): left alone
        pass
    bare = Bare()
    with archive._HeapSizedReads(bare):
        assert not hasattr(bare, "max_size")
    with archive._HeapSizedReads(None):
        pass


if __name__ == "__main__":
    pytest.main([__file__])
