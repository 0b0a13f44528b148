"""Byte streams of untrusted image data: decompression, digests and a budget.

- `open_stream` detects the compression of a layer (or of a whole archive)
  by its magic bytes (gzip, bzip2, xz, zstd: Python 3.11 has no zstd
  decoder, so the pinned `zstandard` package decodes it) and returns two hashing readers: the raw bytes (an OCI blob
  digest covers the compressed bytes) and the uncompressed ones (a layer's
  diff_id covers the plain tar).  Both are drained to the end by `finish`,
  so the digests cover every byte, padding included.
- `BoundedTarInfo` refuses PAX and GNU long-name headers over 1 MiB (as Go's
  archive/tar does): tarfile reads such a header whole into memory, so a
  crafted one would otherwise cost as much memory as its declared size.
- `Budget` bounds what one load or import may write: the free space and
  inodes of the data root's filesystem, less a reserve.  Every uncompressed
  byte read is charged to it, and every tar member's declared size is
  checked against it before the member is written, so neither a
  decompression bomb nor a huge declared (or sparse) member can fill the
  disk; the error names what was refused.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import tarfile
import zlib
from typing import BinaryIO

from boxnet.errors import InvalidParameter

CHUNK = 1 << 20
HEADER_LIMIT = 1 << 20         # bytes: largest PAX / GNU long-name header read
RESERVE_MAX = 1 << 30          # bytes kept free on the data root at most (5% below that)
INODE_RESERVE_MAX = 100_000
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
          b"\x28\xb5\x2f\xfd": "zstd"}
# What a broken compressed stream raises besides OSError/EOFError.
STREAM_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo whose PAX and GNU long-name headers are at most HEADER_LIMIT
    bytes (pass it as tarfile.open(tarinfo=...))."""

    def _bound(self) -> None:
        if self.size > HEADER_LIMIT:
            raise InvalidParameter(f"tar member header of {self.size} bytes (a PAX or long-name "
                                   f"record), more than the {HEADER_LIMIT} allowed")

    def _proc_pax(self, tarfile):  # noqa: D102 (tarfile's hook)
        self._bound()
        return super()._proc_pax(tarfile)

    def _proc_gnulong(self, tarfile):  # noqa: D102 (tarfile's hook)
        self._bound()
        return super()._proc_gnulong(tarfile)


class Budget:
    """What a load may still write under `path`: free bytes and inodes of its
    filesystem less a reserve (5% of the filesystem, at most 1 GiB / 100k inodes)."""

    def __init__(self, path: str):
        """Measure the filesystem holding `path` now."""
        st = os.statvfs(path)
        total = st.f_blocks * st.f_frsize
        self.bytes_left = st.f_bavail * st.f_frsize - min(total // 20, RESERVE_MAX)
        self.inodes_left = st.f_favail - min(st.f_files // 20, INODE_RESERVE_MAX)
        self.limit = max(self.bytes_left, 0)

    def _refuse(self, what: str, need: str) -> InvalidParameter:
        return InvalidParameter(
            f"{what}: {need}, more than the data root can take ({_human(self.limit)} free, less "
            f"a reserve); refusing the image (a decompression bomb, or a disk too full for it)")

    def take(self, n: int, what: str) -> None:
        """Charge `n` uncompressed bytes read."""
        self.bytes_left -= n
        if self.bytes_left < 0:
            raise self._refuse(what, "its uncompressed content grows past "
                                     f"{_human(self.limit)}")

    def member(self, m: tarfile.TarInfo, what: str) -> None:
        """Check one tar member before it is written: its declared size (the
        apparent size of a sparse file included) and one inode."""
        if m.size > self.bytes_left:
            raise self._refuse(f"{what}: member {m.name!r}", f"it declares {_human(m.size)}")
        self.inodes_left -= 1
        if self.inodes_left < 0:
            raise InvalidParameter(f"{what}: too many files for the inodes free on the data "
                                   f"root; refusing the image")


class HashingReader:
    """A read-only file that hashes (sha256) and counts what passes through
    it, charging a Budget when given one."""

    def __init__(self, f: BinaryIO, budget: Budget | None = None, what: str = "",
                 head: bytes = b""):
        """Wrap `f`; `head` is bytes already read from it, returned first."""
        self._f, self._head, self._budget, self._what = f, head, budget, what
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        """Read up to n bytes (all when n < 0)."""
        if self._head:
            data, self._head = (self._head, b"") if n < 0 or n >= len(self._head) \
                else (self._head[:n], self._head[n:])
            if n < 0:
                data += self._f.read()
        else:
            data = self._f.read(n)
        self.sha.update(data)
        self.size += len(data)
        if self._budget is not None:
            self._budget.take(len(data), self._what)
        return data

    def digest(self) -> str:
        """"sha256:<hex>" of everything read so far."""
        return "sha256:" + self.sha.hexdigest()

    def drain(self) -> None:
        """Read (and hash) to the end."""
        while self.read(CHUNK):
            pass


class _ZstdReader:
    """zstd decoding (the `zstandard` package), frame after frame.  A stream
    that ends inside a frame is an OSError (zstandard's own stream reader
    returns the partial data silently), and so is its ZstdError, which is no
    OSError: callers' STREAM_ERRORS handling applies to both."""

    def __init__(self, raw: HashingReader):
        import zstandard
        self._mod, self._raw = zstandard, raw
        self._dec = zstandard.ZstdDecompressor().decompressobj()
        self._buf = b""
        self._eof = False

    def _more(self) -> None:
        data = self._raw.read(1 << 16)
        try:
            if not data:
                self._eof = True
                if not self._dec.eof and self._started:
                    raise OSError("bad zstd stream: it ends inside a frame (truncated)")
                return
            self._started = True
            out = self._dec.decompress(data)
            while self._dec.eof and self._dec.unused_data:   # the next frame
                rest = self._dec.unused_data
                self._dec = self._mod.ZstdDecompressor().decompressobj()
                out += self._dec.decompress(rest)
            self._buf = self._buf[self._pos:] + out
            self._pos = 0
        except self._mod.ZstdError as e:
            raise OSError(f"bad zstd stream: {e}") from None

    _started = False
    _pos = 0          # read offset into _buf (no copy of the rest per read)

    def read(self, n: int = -1) -> bytes:
        """Up to n decoded bytes (all when n < 0)."""
        while not self._eof and (n < 0 or len(self._buf) - self._pos < n):
            self._more()
        end = len(self._buf) if n < 0 else self._pos + n
        data = self._buf[self._pos:end]
        self._pos = min(end, len(self._buf))
        return data


def compression(head: bytes) -> str:
    """"gzip", "bzip2", "xz", "zstd" or "" (plain) from a stream's first bytes."""
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return ""


def open_stream(raw: BinaryIO, budget: Budget | None, what: str
                ) -> tuple[HashingReader, HashingReader]:
    """(uncompressed reader, raw reader) over `raw`, compression detected."""
    head = raw.read(6)
    kind = compression(head)
    raw_h = HashingReader(raw, head=head)
    dec: BinaryIO
    if kind == "zstd":
        dec = _ZstdReader(raw_h)  # type: ignore[assignment]
    elif kind == "gzip":
        dec = gzip.GzipFile(fileobj=raw_h, mode="rb")  # type: ignore[arg-type]
    elif kind == "bzip2":
        dec = bz2.BZ2File(raw_h)  # type: ignore[arg-type]
    elif kind == "xz":
        dec = lzma.LZMAFile(raw_h)  # type: ignore[arg-type]
    else:
        return HashingReader(raw_h, budget, what), raw_h  # type: ignore[arg-type]
    return HashingReader(dec, budget, what), raw_h


def finish(plain: HashingReader, raw: HashingReader) -> tuple[str, str]:
    """Drain both readers; return (uncompressed digest, raw digest)."""
    plain.drain()
    raw.drain()
    return plain.digest(), raw.digest()
