"""`docker pull`: a manifest resolved, its blobs verified into the blob
store, its layers applied into a staging rootfs, then the image stored.

`resolve()` does what can fail before any progress is sent (reference,
auth, manifest, platform, config), so those errors become HTTP statuses;
`Pull.run()` then streams Docker's progress messages.  Every blob is
verified while it streams (blobs.py); every layer's uncompressed content is
verified against the config's diff_id while it is applied
(runtime/layers.py); the image is stored only when all of that passed, and a
failure or a cut connection removes the staging directory: no half image.
Layers download concurrently (at most PARALLEL) and are applied in order as
they arrive; the leading layers a stored snapshot already holds are not
applied again (snapshots.py: each layer unpacked once).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from typing import AsyncIterator

import aiohttp

from boxnet.errors import InvalidParameter, NotFound
from boxnet.registry import manifest as mf
from boxnet.registry.blobs import BlobStore
from boxnet.registry.client import RepoClient
from boxnet.registry.errors import RegistryError
from boxnet.registry.progress import Throttle, moving, short, status
from boxnet.registry.reference import Reference
from boxnet.registry.snapshots import Snapshots, chain_ids
from boxnet.runtime.archive import LoadedImage
from boxnet.runtime.images import ImageStore
from boxnet.runtime.layers import apply_layer
from boxnet.runtime.layerstream import Budget
from boxnet.runtime.load import _image as image_from_config
from boxnet.runtime.tarimport import rootfs_size

PARALLEL = 3


async def _read_limited(resp, limit: int, what: str) -> bytes:
    n = resp.content_length
    if n is not None and n > limit:
        raise RegistryError(f"{what}: {n} bytes, more than the {limit} allowed")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > limit:
            raise RegistryError(f"{what}: more than the {limit} bytes allowed")
    return bytes(body)


async def fetch_manifest(client: RepoClient, ref: str, name: str,
                         want_digest: str = "") -> tuple[dict, bytes, str]:
    """(decoded manifest, its bytes, its digest) of `ref` (a tag or digest),
    the digest checked against `want_digest` and the registry's header."""
    what = f"manifest for {name}"
    async with client.request("GET", f"/v2/{client.repo}/manifests/{ref}",
                              headers={"Accept": mf.ACCEPT}) as r:
        await client.check_status(r, what)
        body = await _read_limited(r, mf.MANIFEST_LIMIT, what)
        ctype, header = r.headers.get("Content-Type", ""), r.headers.get("Docker-Content-Digest")
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if want_digest and digest != want_digest:
        raise InvalidParameter(f"manifest verification failed for digest {want_digest}: the "
                               f"registry sent content of digest {digest}")
    if header and header.startswith("sha256:") and header != digest:
        raise InvalidParameter(f"{what}: the registry says digest {header} but the content "
                               f"has digest {digest}")
    return mf.decode(body, ctype), body, digest


def blob_opener(client: RepoClient, digest: str):
    """An `open_stream` for BlobStore.fetch: GET the blob, yield its chunks."""
    async def open_stream():
        """Start the GET; its chunks as an async iterator."""
        async def chunks():
            async with client.request("GET", f"/v2/{client.repo}/blobs/{digest}") as r:
                await client.check_status(r, f"blob {digest}")
                try:
                    async for chunk in r.content.iter_chunked(1 << 17):
                        yield chunk
                except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                    raise RegistryError(f"blob {digest}: the transfer was cut short or timed "
                                        f"out ({type(e).__name__}); nothing of it is "
                                        f"kept") from None
        return chunks()
    return open_stream


@dataclass
class Pull:
    """A resolved pull, ready to run."""

    ref: Reference
    client: RepoClient
    images: ImageStore
    blobs: BlobStore
    manifest: mf.Manifest
    manifest_bytes: bytes
    top_digest: str          # the digest the user sees (the index's for a multi-platform image)
    config_bytes: bytes
    config: dict
    diff_ids: list[str]
    pinned: set[str]
    snapshots: Snapshots

    @property
    def image_id(self) -> str:
        """The image id: the config's digest."""
        return self.manifest.config.digest

    async def run(self) -> AsyncIterator[dict]:
        """Docker's progress messages; the image is stored at the end."""
        ref = self.ref
        yield status(f"Pulling from {ref.path if ref.domain != 'docker.io' else ref.familiar}",
                     ref.tag or ref.digest)
        repo_digest = f"{ref.familiar}@{self.top_digest}"
        if self.images.has(self.image_id):
            for layer in self.manifest.layers:
                yield status("Already exists", short(layer.digest), {})
            fresh = self.images.add_names(self.image_id, ref.local_tag, repo_digest)
            yield status(f"Digest: {self.top_digest}")
            yield status(f"Status: {'Downloaded newer image' if fresh else 'Image is up to date'}"
                         f" for {ref}")
            return
        queue: asyncio.Queue = asyncio.Queue()
        task = asyncio.ensure_future(self._work(queue))
        try:
            while True:
                msg = await queue.get()
                if msg is None:
                    break
                yield msg
            await task                           # raises the pull's error, if any
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)  # abandoned: its error goes
        yield status(f"Digest: {self.top_digest}")
        yield status(f"Status: Downloaded newer image for {ref}")

    async def _download(self, layer: mf.Descriptor, sem: asyncio.Semaphore, put) -> str:
        lid = short(layer.digest)
        if self.blobs.has(layer.digest):
            put(status("Already exists", lid, {}))   # stored once, shared with another image
            return self.blobs.path(layer.digest)
        async with sem:
            tick = Throttle()

            def progress(n: int) -> None:
                """A throttled "Downloading" message."""
                if tick(n == layer.size):
                    put(moving("Downloading", lid, n, layer.size))
            path = await self.blobs.fetch(layer.digest, layer.size,
                                          blob_opener(self.client, layer.digest), progress)
        put(status("Verifying Checksum", lid, {}))
        put(status("Download complete", lid, {}))
        return path

    async def _work(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        put = queue.put_nowait
        staged = self.images.staging_dir()
        try:
            for layer in self.manifest.layers:
                if not self.blobs.has(layer.digest):
                    put(status("Pulling fs layer", short(layer.digest), {}))
            sem = asyncio.Semaphore(PARALLEL)
            downloads = [asyncio.ensure_future(self._download(layer, sem, put))
                         for layer in self.manifest.layers]
            try:
                rootfs = os.path.join(staged, "rootfs")
                chains = chain_ids(self.diff_ids)
                self.pinned.update(chains)                # kept by gc while this pull runs
                done = self.snapshots.longest(chains)   # layers already unpacked once
                if done:
                    await asyncio.to_thread(self.snapshots.restore, chains[done - 1], rootfs)
                else:
                    os.mkdir(rootfs, 0o755)
                budget = Budget(self.images.root)
                for n, (layer, dl, diff_id) in enumerate(zip(self.manifest.layers, downloads,
                                                             self.diff_ids)):
                    path = await dl
                    lid = short(layer.digest)
                    if n < done:
                        continue

                    def report(n: int, lid=lid, total=layer.size) -> None:
                        """An "Extracting" message, from the worker thread."""
                        loop.call_soon_threadsafe(put, moving("Extracting", lid, n, total))
                    got, _ = await asyncio.to_thread(_apply, path, rootfs, budget, lid, report)
                    if got != diff_id:
                        raise InvalidParameter(
                            f"layer {layer.digest}: its content has diff_id {got}, not the "
                            f"{diff_id} the image config lists: the image is corrupt")
                    await asyncio.to_thread(self.snapshots.save, chains[n], rootfs)
                    put(status("Pull complete", lid, {}))
            finally:
                for dl in downloads:
                    if not dl.done():
                        dl.cancel()
                await asyncio.gather(*downloads, return_exceptions=True)
            img = image_from_config(LoadedImage(id=self.image_id, config=self.config))
            img.size = await asyncio.to_thread(rootfs_size, rootfs)
            img.blobs = [layer.digest for layer in self.manifest.layers]
            img.architecture = str(self.config.get("architecture") or "")
            with open(os.path.join(staged, "config.json"), "wb") as f:
                f.write(self.config_bytes)
            with open(os.path.join(staged, "manifest.json"), "wb") as f:
                f.write(self.manifest_bytes)
            self.images.commit_pulled(img, staged, self.ref.local_tag,
                                      f"{self.ref.familiar}@{self.top_digest}")
            staged = ""
        finally:
            if staged:
                shutil.rmtree(staged, ignore_errors=True)
            put(None)


class _Counting:
    """A file reader that reports bytes read (for "Extracting" progress)."""

    def __init__(self, f, report):
        self._f, self._report, self.n, self._tick = f, report, 0, Throttle()

    def read(self, n: int = -1) -> bytes:
        """Read and count."""
        data = self._f.read(n)
        self.n += len(data)
        if self._tick(not data):
            self._report(self.n)
        return data


def _apply(path: str, rootfs: str, budget: Budget, lid: str, report) -> tuple[str, str]:
    with open(path, "rb") as f:
        return apply_layer(_Counting(f, report), rootfs, budget, f"layer {lid}")  # type: ignore


async def resolve(ref: Reference, client: RepoClient, images: ImageStore, blobs: BlobStore,
                  platform: mf.Platform | None, pinned: set[str],
                  snapshots: Snapshots) -> Pull:
    """Fetch and check the manifest (choosing the platform in an index) and
    the config; errors here are HTTP statuses (nothing is streamed yet)."""
    want = platform or mf.host_platform()
    try:
        doc, body, top = await fetch_manifest(client, ref.ref, str(ref), ref.digest)
    except NotFound as e:
        if "name unknown" in e.message:
            raise NotFound(f"pull access denied for {ref.familiar}, repository does not exist "
                           f"or may require 'docker login': {e.message}") from None
        raise                            # "manifest for NAME not found: manifest unknown: ..."
    if mf.is_index(doc):
        desc = mf.choose(doc, want, str(ref))
        doc, body, _ = await fetch_manifest(client, desc.digest, str(ref), desc.digest)
        if mf.is_index(doc):
            raise InvalidParameter(f"{ref}: an index inside an index is not supported")
    m = mf.image_manifest(doc, str(ref))
    if m.config.size > mf.CONFIG_LIMIT:
        raise RegistryError(f"{ref}: image config of {m.config.size} bytes is too large")
    pinned.add(m.config.digest)
    pinned.update(layer.digest for layer in m.layers)
    path = await blobs.fetch(m.config.digest, m.config.size,
                             blob_opener(client, m.config.digest))
    with open(path, "rb") as f:
        config_bytes = f.read()
    try:
        config = json.loads(config_bytes)
    except ValueError:
        raise RegistryError(f"{ref}: the image config is not JSON") from None
    if not isinstance(config, dict):
        raise RegistryError(f"{ref}: the image config is not a JSON object")
    got = mf.config_platform(config)
    if platform is not None and (got.os, got.architecture) != (want.os, want.architecture):
        raise NotFound(f"image with reference {ref} was found but does not match the specified "
                       f"platform: wanted {want}, actual: {got}")
    return Pull(ref, client, images, blobs, m, body, top, config_bytes, config,
                mf.diff_ids(config, len(m.layers), str(ref)), pinned, snapshots)
