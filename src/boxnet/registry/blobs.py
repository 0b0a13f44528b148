"""The content-addressed blob store: `<data-root>/blobs/sha256/<hex>`.

A blob is written to `.tmp-<hex>-<random>` beside its final name while it
streams in, hashed on the way; it is renamed to its digest only after the
digest and the size matched what the manifest declared.  A mismatch, a
transfer cut short or a cancelled pull deletes the temp file: nothing
unverified is ever under a digest name.  Temp files left by a crash are
removed when the store is opened.  Concurrent fetches of one digest share one
download (the second caller waits for the first).  `gc` removes the blobs no
image refers to.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from typing import AsyncIterator, Awaitable, Callable

from boxnet.errors import InvalidParameter
from boxnet.runtime.layerstream import Budget

log = logging.getLogger(__name__)
Progress = Callable[[int], None]


class BlobStore:
    """Verified blobs by digest (see the module docstring)."""

    def __init__(self, data_root: str):
        """Open (create) `<data_root>/blobs/sha256`, removing stale temp files."""
        self.dir = os.path.join(data_root, "blobs", "sha256")
        os.makedirs(self.dir, exist_ok=True)
        self.data_root = data_root
        for name in os.listdir(self.dir):
            if name.startswith(".tmp-"):
                os.unlink(os.path.join(self.dir, name))
        self._inflight: dict[str, asyncio.Future] = {}

    def path(self, digest: str) -> str:
        """The file of a blob (it may not exist)."""
        return os.path.join(self.dir, digest.split(":", 1)[1])

    def has(self, digest: str) -> bool:
        """Whether a verified blob of this digest is stored."""
        return os.path.exists(self.path(digest))

    def busy(self, digest: str) -> bool:
        """Whether a download of this digest is in flight."""
        return digest in self._inflight

    async def fetch(self, digest: str, size: int,
                    open_stream: Callable[[], Awaitable[AsyncIterator[bytes]]],
                    progress: Progress | None = None) -> str:
        """The path of blob `digest`, downloading it with `open_stream()` when
        missing.  Returns once the blob is verified and stored.  A caller that
        finds the download in flight waits for it; if that one fails or is
        cancelled (its client went away), the waiter downloads it itself."""
        while not self.has(digest) and digest in self._inflight:
            try:
                await asyncio.shield(self._inflight[digest])
            except Exception as e:  # noqa: BLE001 (the other pull's failure: try ourselves)
                log.info("shared download of %s failed (%s); fetching it again", digest[7:19], e)
        if self.has(digest):
            return self.path(digest)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[digest] = fut
        try:
            await self._download(digest, size, open_stream, progress)
            fut.set_result(None)
        except BaseException as e:
            fut.set_exception(e if isinstance(e, Exception) else RuntimeError("cancelled"))
            fut.exception()                     # retrieved: no "never retrieved" warning
            raise
        finally:
            del self._inflight[digest]
        return self.path(digest)

    async def _download(self, digest: str, size: int, open_stream, progress) -> None:
        want = digest.split(":", 1)[1]
        budget = Budget(self.data_root)
        if size > budget.bytes_left:
            raise InvalidParameter(f"blob {digest[7:19]} declares {size} bytes, more than the "
                                   f"data root can take")
        tmp = os.path.join(self.dir, f".tmp-{want}-{secrets.token_hex(4)}")
        sha, got = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as f:
                async for chunk in await open_stream():
                    got += len(chunk)
                    if got > size:
                        raise InvalidParameter(
                            f"blob {digest}: the registry sent more than the {size} bytes the "
                            f"manifest declares; refusing it")
                    sha.update(chunk)
                    f.write(chunk)
                    if progress is not None:
                        progress(got)
            if got != size:
                raise InvalidParameter(f"blob {digest}: the registry sent {got} bytes, not the "
                                       f"{size} the manifest declares (cut short?)")
            if sha.hexdigest() != want:
                raise InvalidParameter(f"filesystem layer verification failed for digest "
                                       f"{digest}: the content has digest "
                                       f"sha256:{sha.hexdigest()}")
            os.rename(tmp, self.path(digest))
            tmp = ""
        finally:
            if tmp:
                os.unlink(tmp)

    def put_file(self, src: str, digest: str) -> str:
        """Store a local file already hashed to `digest` (moved in); its path."""
        dst = self.path(digest)
        if os.path.exists(dst):
            os.unlink(src)
        else:
            os.rename(src, dst)
        return dst

    def temp_path(self) -> str:
        """A temp name in the store's directory (removed at the next open if left)."""
        return os.path.join(self.dir, f".tmp-local-{secrets.token_hex(8)}")

    def gc(self, used: set[str]) -> list[str]:
        """Delete every blob not in `used` (digests); return what was removed."""
        gone = []
        for name in os.listdir(self.dir):
            if name.startswith(".tmp-") or f"sha256:{name}" in used:
                continue
            try:
                os.unlink(os.path.join(self.dir, name))
                gone.append(f"sha256:{name}")
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("cannot remove blob %s: %s", name, e)
        return gone

    def sizes(self) -> int:
        """Bytes held by stored blobs."""
        return sum(os.path.getsize(os.path.join(self.dir, n)) for n in os.listdir(self.dir)
                   if not n.startswith(".tmp-"))
