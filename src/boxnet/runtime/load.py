"""`docker load`: an image archive becomes images, all or nothing.

1. A compressed archive (gzip, bzip2, xz) is first decompressed into a
   staging file under the image root, charged to the load's Budget (a
   compressed bomb stops at the data root's free space, less a reserve).
2. The archive is read and every claim checked (archive.py, ocilayout.py):
   image id = config digest, blob digests and sizes, bounded index walk,
   paths inside the archive.  Tags are validated (boxnet/host is reserved).
3. Each image not stored yet is extracted into its own staging directory,
   each layer verified against its diff_id while it is applied (layers.py).
   An image already stored under the same id has its layers verified too
   (hashed, not written): an archive that copies a stored image's config but
   carries other layers is refused, never silently given that image's tags.
4. Only when every image of the archive passed, the staging directories are
   moved into the store and the tags are claimed, under the store's lock.
   On any error every staging file and directory is removed: nothing is stored.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile

import msgspec

from boxnet.errors import InvalidParameter
from boxnet.runtime.archive import Archive, LoadedImage
from boxnet.runtime.imagemeta import Image, ImageConfig, _now, _unix
from boxnet.runtime.layers import unpack
from boxnet.runtime.layerstream import (CHUNK, STREAM_ERRORS, BoundedTarInfo, Budget,
                                        compression, open_stream)
from boxnet.runtime.ocilayout import read_archive
from boxnet.runtime.tarimport import rootfs_size


def _decompressed(store, path: str, budget: Budget) -> str:
    """`path` itself when it is a plain tar, else a staging file holding its
    decompressed bytes (the caller removes it)."""
    with open(path, "rb") as f:
        if not compression(f.read(6)):
            return path
        f.seek(0)
        fd, out = tempfile.mkstemp(prefix=".import-load-", dir=store.root)
        try:
            with os.fdopen(fd, "wb") as dst:
                plain, _ = open_stream(f, budget, "the compressed archive")
                while data := plain.read(CHUNK):
                    dst.write(data)
        except BaseException as e:
            os.unlink(out)
            if isinstance(e, STREAM_ERRORS) and not isinstance(e, InvalidParameter):
                raise InvalidParameter(f"not a valid compressed archive: {e}") from None
            raise
        return out


def _image(li: LoadedImage) -> Image:
    """The store's metadata for a verified archive image (bad config fields are a 400)."""
    cfg = li.config.get("config") or li.config.get("Config") or {}
    if not isinstance(cfg, dict):
        raise InvalidParameter(f"image {li.id}: config.config is not an object")
    try:
        config = msgspec.convert({k: v for k, v in cfg.items()
                                  if k in ImageConfig.__struct_fields__ and v is not None},
                                 ImageConfig)
    except (msgspec.ValidationError, RecursionError) as e:
        raise InvalidParameter(f"image {li.id}: invalid image config: {e}") from None
    config.ExposedPorts = {p: {} for p in config.ExposedPorts}  # values are empty objects
    created = li.config.get("created") or _now()
    try:
        _unix(created)
    except (TypeError, ValueError, AttributeError):
        raise InvalidParameter(f"image {li.id}: invalid created time {created!r}") from None
    return Image(id=li.id, created=created, config=config)


def load_archive(store, path: str) -> list[str]:
    """Load the docker-archive or OCI layout at `path` into `store` (an
    ImageStore); return Docker's progress lines ("Loaded image: busybox:1",
    "Loaded image ID: sha256:...").  Blocking: call from a worker thread."""
    budget = Budget(store.root)
    plain = _decompressed(store, path, budget)
    dirs: list[str] = []          # every staging dir made; moved ones no longer exist
    try:
        try:
            tar = tarfile.open(plain, mode="r:", tarinfo=BoundedTarInfo)
        except tarfile.TarError as e:
            raise InvalidParameter(f"not a tar archive: {e}") from None
        staged: dict[str, str] = {}
        with tar:
            try:
                ar = Archive(tar)
                found = read_archive(ar)
                items = [(_image(li), [store.check_tag(t, li.id) for t in li.tags], li)
                         for li in found]
                for img, _, li in items:
                    if store.has(li.id) or li.id in staged:
                        unpack(ar, li, None, budget)
                        continue
                    staged[li.id] = store.staging_dir()
                    dirs.append(staged[li.id])
                    with open(os.path.join(staged[li.id], "config.json"), "wb") as f:
                        f.write(li.config_bytes)  # kept: its sha256 is the image id
                    rootfs = os.path.join(staged[li.id], "rootfs")
                    os.mkdir(rootfs, 0o755)
                    unpack(ar, li, rootfs, budget)
                    img.size = rootfs_size(rootfs)
            except InvalidParameter:
                raise
            except STREAM_ERRORS as e:
                raise InvalidParameter(f"bad image archive: {e}") from None
        return store.commit_loaded([(img, tags, staged.pop(li.id, None))
                                    for img, tags, li in items])
    finally:
        for d in dirs:
            if os.path.lexists(d):
                shutil.rmtree(d, ignore_errors=True)
        if plain != path:
            os.unlink(plain)
