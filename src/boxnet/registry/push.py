"""`docker push`: an image's blobs uploaded, then its manifest.

Content: a pulled image is pushed as it was pulled (its stored manifest, its
config, its verified layer blobs: the digest stays the same).  An image made
here (import, load, commit, built-in) has no layer blobs: its rootfs is
tarred once into the blob store (one uncompressed OCI layer, digest computed
while writing, as `docker save` does: runtime/save.py) with a config and an
OCI manifest, recorded on the image so the next push reuses them.

Per blob: HEAD first (present: "Layer already exists"); a blob this image
was pulled with from another repository of the same registry is offered as
a cross-repository mount (`POST uploads/?mount=&from=`, "Mounted from");
otherwise an upload session: one PUT for blobs up to MONOLITHIC bytes,
PATCH chunks of CHUNK bytes with Content-Range then the closing PUT above.
Then the manifest is PUT under the tag, and Docker's final messages say its
digest and size.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import AsyncIterator
from urllib.parse import urlencode, urljoin

from boxnet.errors import InvalidParameter
from boxnet.registry import manifest as mf
from boxnet.registry.blobs import BlobStore
from boxnet.registry.client import RepoClient
from boxnet.registry.errors import RegistryError
from boxnet.registry.progress import Throttle, moving, short, status
from boxnet.registry.reference import Reference
from boxnet.runtime.images import Image, ImageStore
from boxnet.runtime.save import image_config, write_layer

MONOLITHIC = 4 << 20
CHUNK = 4 << 20


def _local_content(img: Image, images: ImageStore, blobs: BlobStore) -> tuple[bytes, dict]:
    """(manifest bytes, manifest) for an image made here: its rootfs as one
    layer blob (made once), a config and an OCI manifest.  Blocking."""
    tmp = blobs.temp_path()
    try:
        with open(tmp, "wb") as f:
            diff_id, size = write_layer(img.rootfs, f)
        blobs.put_file(tmp, diff_id)
        tmp = ""
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    config = image_config(img, diff_id)
    cfg_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    cfg_tmp = blobs.temp_path()
    with open(cfg_tmp, "wb") as f:
        f.write(config)
    blobs.put_file(cfg_tmp, cfg_digest)
    doc = {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
           "config": {"mediaType": mf.OCI_CONFIG, "digest": cfg_digest, "size": len(config)},
           "layers": [{"mediaType": mf.OCI_LAYER, "digest": diff_id, "size": size}]}
    body = json.dumps(doc, separators=(",", ":")).encode()
    with open(os.path.join(images.image_dir(img.id), "manifest.json"), "wb") as f:
        f.write(body)
    images.set_blobs(img.id, [diff_id, cfg_digest])
    return body, doc


def _content(img: Image, images: ImageStore, blobs: BlobStore) -> tuple[bytes, dict]:
    """The manifest to push, its blobs all in the store (made when missing)."""
    path = os.path.join(images.image_dir(img.id), "manifest.json")
    try:
        with open(path, "rb") as f:
            body = f.read()
        doc = json.loads(body)
        needed = [doc["config"]["digest"], *(x["digest"] for x in doc["layers"])]
        cfg_local = os.path.join(images.image_dir(img.id), "config.json")
        if not blobs.has(doc["config"]["digest"]) and os.path.exists(cfg_local):
            with open(cfg_local, "rb") as f:
                data = f.read()
            if "sha256:" + hashlib.sha256(data).hexdigest() == doc["config"]["digest"]:
                tmp = blobs.temp_path()
                with open(tmp, "wb") as f:
                    f.write(data)
                blobs.put_file(tmp, doc["config"]["digest"])
        if all(blobs.has(d) for d in needed):
            return body, doc
    except (OSError, ValueError, KeyError, TypeError):
        pass                                 # no usable stored manifest: make one
    return _local_content(img, images, blobs)


class _Uploader:
    """Blob uploads of one push (`put`: queue a progress message)."""

    def __init__(self, client: RepoClient, blobs: BlobStore, put):
        self.client, self.blobs, self.put = client, blobs, put

    async def exists(self, digest: str) -> bool:
        """Whether the repository already has the blob (HEAD)."""
        async with self.client.request("HEAD", f"/v2/{self.client.repo}/blobs/{digest}") as r:
            if r.status in (200, 404):
                return r.status == 200
            await self.client.check_status(r, f"blob {digest}")
        return False

    async def start(self, digest: str, mount_from: str) -> str:
        """The upload URL, or "" when the blob was mounted from `mount_from`."""
        q = f"?{urlencode({'mount': digest, 'from': mount_from})}" if mount_from else ""
        async with self.client.request("POST", f"/v2/{self.client.repo}/blobs/uploads/{q}",
                                       data=b"") as r:
            if r.status == 201 and mount_from:
                return ""
            await self.client.check_status(r, f"upload of {digest}", ok=(202,))
            return urljoin(self.client.url("/"), r.headers["Location"])

    async def upload(self, desc: mf.Descriptor, url: str, lid: str) -> None:
        """Send the blob to the upload session at `url` (one PUT, or PATCH chunks and a PUT)."""
        path, size = self.blobs.path(desc.digest), desc.size
        tick = Throttle()
        with open(path, "rb") as f:
            sent = 0
            if size > MONOLITHIC:
                while sent < size:
                    chunk = await asyncio.to_thread(f.read, CHUNK)
                    async with self.client.request(
                            "PATCH", url, absolute=True, data=chunk, headers={
                                "Content-Type": "application/octet-stream",
                                "Content-Range": f"{sent}-{sent + len(chunk) - 1}"}) as r:
                        await self.client.check_status(r, f"upload of {desc.digest}",
                                                       ok=(202, 204))
                        url = urljoin(url, r.headers.get("Location", url))
                    sent += len(chunk)
                    if tick(sent == size):
                        self.put(moving("Pushing", lid, sent, size))
                body: bytes = b""
            else:
                body = await asyncio.to_thread(f.read)
        sep = "&" if "?" in url else "?"
        async with self.client.request("PUT", f"{url}{sep}{urlencode({'digest': desc.digest})}",
                                       absolute=True, data=body, headers={
                                           "Content-Type": "application/octet-stream"}) as r:
            await self.client.check_status(r, f"upload of {desc.digest}", ok=(201, 204))
        if size <= MONOLITHIC:
            self.put(moving("Pushing", lid, size, size))


async def push(ref: Reference, img: Image, client: RepoClient, images: ImageStore,
               blobs: BlobStore) -> AsyncIterator[dict]:
    """Docker's push messages for `img` pushed as `ref` (see the module docstring)."""
    if img.readonly or img.rootfs == "/":
        raise InvalidParameter(f"image {ref} is the host's root filesystem (boxnet/host) and "
                               f"cannot be pushed")
    yield status(f"The push refers to repository [{ref.name}]")
    body, doc = await asyncio.to_thread(_content, img, images, blobs)
    m = mf.image_manifest(mf.decode(body, ""), str(ref))
    siblings = [d.split("@", 1)[0] for d in img.repo_digests]
    same_registry = [s for s in siblings
                     if s.split("/", 1)[0] == ref.domain and s != ref.familiar]
    mount_from = same_registry[0].split("/", 1)[1] if same_registry else ""
    queue: asyncio.Queue = asyncio.Queue()
    up = _Uploader(client, blobs, queue.put_nowait)
    for layer in m.layers:
        yield status("Preparing", short(layer.digest), {})

    async def one(desc: mf.Descriptor, show: bool) -> None:
        """Push one blob (skipped when present, mounted when possible)."""
        lid = short(desc.digest)
        if await up.exists(desc.digest):
            if show:
                queue.put_nowait(status("Layer already exists", lid, {}))
            return
        url = await up.start(desc.digest, mount_from)
        if not url:
            if show:
                queue.put_nowait(status(f"Mounted from {mount_from}", lid, {}))
            return
        await up.upload(desc, url, lid)
        if show:
            queue.put_nowait(status("Pushed", lid, {}))

    async def work() -> None:
        """Every layer in parallel, then the config; the queue ends with None."""
        try:
            await asyncio.gather(*(one(x, True) for x in m.layers))
            await one(m.config, False)
        finally:
            queue.put_nowait(None)
    task = asyncio.ensure_future(work())
    try:
        while (msg := await queue.get()) is not None:
            yield msg
        await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    async with client.request("PUT", f"/v2/{client.repo}/manifests/{ref.tag}", data=body,
                              headers={"Content-Type": m.media_type}) as r:
        await client.check_status(r, f"manifest {ref}", ok=(201,))
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if r.headers.get("Docker-Content-Digest", digest) != digest:
        raise RegistryError(f"the registry stored the manifest as "
                            f"{r.headers['Docker-Content-Digest']}, not {digest}")
    images.add_names(img.id, "", f"{ref.familiar}@{digest}")
    yield status(f"{ref.tag}: digest: {digest} size: {len(body)}")
    yield {"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": digest, "Size": len(body)}}
