"""`docker save`: images as a docker-archive tarball, streamed.

The archive (read back by layers.py, by `docker load` and by other engines):
    blobs/sha256/<layer digest>   one uncompressed layer: the image's rootfs
    blobs/sha256/<config digest>  the image config (architecture, os, config,
                                  rootfs.diff_ids, history)
    manifest.json                 [{"Config", "RepoTags", "Layers"}] per image
    repositories                  {repo: {tag: config hex}} (legacy readers)

Blobs are named by the sha256 of their content, as the format requires.  A
boxnet image is one directory, so it is saved as one layer; its config is
rebuilt from the stored metadata, so the image id after a round trip is the
digest of that config, not necessarily the id it had (a loaded image of
several layers comes back as one; built-in images' ids are not config digests).

Memory stays small: each layer is tarred once into a spool file in
`spool_dir` (its digest is needed before its bytes: the tar header holds the
size), then copied into the outgoing stream in 1 MiB pieces; the outer tar is
written in stream mode to a writer that hands bytes to the event loop through
a bounded queue (`stream_archive`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import tarfile
import tempfile
import threading
from typing import AsyncIterator, BinaryIO

from boxnet.errors import InvalidParameter
from boxnet.runtime.images import Image, ImageStore, config_json, normalize_ref

CHUNK = 1 << 20


class _HashingWriter:
    """File wrapper that hashes what is written through it."""

    def __init__(self, f: BinaryIO):
        self._f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self._f.write(data)


def resolve(store: ImageStore, refs: list[str]) -> list[tuple[Image, list[str]]]:
    """The images to save, each with the tags to record (NotFound first, before
    any byte is sent).  Named by tag: that tag; named by id: no tag, as Docker."""
    out: dict[str, tuple[Image, list[str]]] = {}
    for ref in refs:
        img = store.get(ref)
        if img.rootfs == "/" or img.readonly:
            raise InvalidParameter(f"image {ref} is the host's root filesystem "
                                   f"(boxnet/host) and cannot be saved")
        tags = out.setdefault(img.id, (img, []))[1]
        tag = normalize_ref(ref)
        if tag in img.repo_tags and tag not in tags:
            tags.append(tag)
    return list(out.values())


def write_layer(rootfs: str, out: BinaryIO) -> tuple[str, int]:
    """Tar `rootfs` (owners, modes, links kept; sockets skipped) into `out`;
    return ("sha256:<hex>", size) of the tar bytes: the layer's diff id."""
    hw = _HashingWriter(out)
    with tarfile.open(fileobj=hw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, rootfs)
                info = tar.gettarinfo(path, arcname=rel)
                if info is None:            # a socket: nothing to carry over
                    continue
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
            # symlinked directories are listed in dirnames but not walked into
    return "sha256:" + hw.sha.hexdigest(), hw.size


def image_config(img: Image, diff_id: str) -> bytes:
    """The image config JSON (OCI/Docker image spec) for one saved image."""
    return config_json(img, [diff_id], "boxnet save")


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, mtime
    tar.addfile(info, io.BytesIO(data))


def write_archive(images: list[tuple[Image, list[str]]], out: BinaryIO, spool_dir: str) -> None:
    """Write the docker-archive of `images` (from `resolve`) to `out` (only
    .write() is used).  Blocking: run it in a worker thread."""
    manifest, repos, seen = [], {}, set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for img, tags in images:
            with tempfile.TemporaryFile(dir=spool_dir, prefix="boxnet-save-") as spool:
                diff_id, size = write_layer(img.rootfs, spool)
                layer_name = "blobs/sha256/" + diff_id[7:]
                if layer_name not in seen:
                    seen.add(layer_name)
                    spool.seek(0)
                    info = tarfile.TarInfo(layer_name)
                    info.size, info.mode = size, 0o644
                    tar.addfile(info, spool)
            config = image_config(img, diff_id)
            cfg_hex = hashlib.sha256(config).hexdigest()
            if "blobs/sha256/" + cfg_hex not in seen:
                seen.add("blobs/sha256/" + cfg_hex)
                _add_bytes(tar, "blobs/sha256/" + cfg_hex, config)
            manifest.append({"Config": "blobs/sha256/" + cfg_hex, "RepoTags": tags or None,
                             "Layers": [layer_name]})
            for t in tags:
                repo, _, tag = t.rpartition(":")
                repos.setdefault(repo, {})[tag] = cfg_hex
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        if repos:
            _add_bytes(tar, "repositories", json.dumps(repos).encode())


class _Cancelled(Exception):
    """The reader went away: stop writing."""


async def stream_archive(store: ImageStore, refs: list[str], spool_dir: str,
                         queue_size: int = 16) -> AsyncIterator[bytes]:
    """The archive of `refs` as an async stream of chunks.  Unknown images
    raise NotFound before the first chunk; if the consumer stops early (the
    client disconnected) the worker thread stops and its spool file goes."""
    images = resolve(store, refs)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
    stop = threading.Event()

    class _Out:
        def write(self, data: bytes) -> int:
            if stop.is_set():
                raise _Cancelled()
            asyncio.run_coroutine_threadsafe(queue.put(bytes(data)), loop).result()
            return len(data)

    def work() -> None:
        err: BaseException | None = None
        try:
            write_archive(images, _Out(), spool_dir)
        except BaseException as e:  # handed to the consumer below
            err = e
        if not stop.is_set():
            asyncio.run_coroutine_threadsafe(queue.put(err or StopAsyncIteration()),
                                             loop).result()

    task = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        buf = bytearray()
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                if buf:
                    yield bytes(buf)
                if isinstance(item, StopAsyncIteration):
                    return
                raise item
            buf += item
            if len(buf) >= CHUNK or queue.empty():
                yield bytes(buf)
                buf.clear()
    finally:
        stop.set()
        while not task.done():              # unblock a put() waiting on a full queue
            while not queue.empty():
                queue.get_nowait()
            await asyncio.sleep(0.01)
