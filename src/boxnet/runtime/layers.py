"""Layers of a loaded image applied to a rootfs, each verified against its digests.

A layer (plain, gzip, bzip2 or xz tar) is applied in one pass that also
hashes it: the uncompressed stream must hash to the layer's diff_id from the
image config, and the stored bytes to their blob digest when the archive
names one (OCI blobs, Docker >= 25 blobs/sha256/...).  A mismatch is a 400;
the caller extracts into a staging directory that it removes on any error,
so nothing is stored.  Every byte and every member's declared size is
charged to the load's Budget (runtime/layerstream.py).

Members go through the safe extractor of tarimport.py (no "..", no absolute
paths outside the rootfs: a leading "/" is stripped, as Docker does; nothing
written through a symlink or other non-directory; hard links only to
regular files already inside the rootfs; device nodes and FIFOs skipped).
Whiteouts: `.wh.NAME` deletes NAME from the lower layers and `.wh..wh..opq`
empties its directory of lower-layer content (entries of the same layer are
kept); their parents are checked the same way, so a whiteout cannot delete
through a symlink either.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from typing import BinaryIO

from boxnet.errors import InvalidParameter
from boxnet.runtime.archive import Archive, LayerRef, LoadedImage
from boxnet.runtime.layerstream import (STREAM_ERRORS, BoundedTarInfo, Budget, finish,
                                        open_stream)
from boxnet.runtime.tarimport import _check_parents, _clean_name, _extract_one

WH = ".wh."
OPAQUE = ".wh..wh..opq"


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _apply_members(tar: tarfile.TarFile, rootfs: str, budget: Budget | None, what: str) -> None:
    this_layer: set[str] = set()
    for m in tar:
        rel = _clean_name(m.name)
        if rel is None:
            continue
        if budget is not None:
            budget.member(m, what)
        parent, _, base = rel.rpartition("/")
        if base == OPAQUE:
            d = os.path.join(rootfs, parent)
            _check_parents(rootfs, rel)
            if os.path.isdir(d) and not os.path.islink(d):
                for child in os.listdir(d):
                    if (f"{parent}/{child}" if parent else child) not in this_layer:
                        _remove(os.path.join(d, child))
            continue
        if base.startswith(WH):
            victim = (f"{parent}/" if parent else "") + base[len(WH):]
            _check_parents(rootfs, victim)
            _remove(os.path.join(rootfs, victim))
            continue
        this_layer.add(rel)
        _extract_one(tar, m, rootfs)


def apply_layer(fileobj: BinaryIO, rootfs: str | None, budget: Budget | None = None,
                what: str = "layer") -> tuple[str, str]:
    """Apply one layer tar on top of `rootfs` (None: only hash it); return
    ("sha256:" diff_id of the uncompressed tar, "sha256:" digest of the raw bytes)."""
    plain, raw = open_stream(fileobj, budget, what)
    try:
        if rootfs is not None:
            with tarfile.open(fileobj=plain, mode="r|",  # type: ignore[call-overload]
                              tarinfo=BoundedTarInfo) as tar:
                _apply_members(tar, rootfs, budget, what)
        return finish(plain, raw)
    except InvalidParameter:
        raise
    except STREAM_ERRORS as e:
        raise InvalidParameter(f"{what}: bad layer: {e}") from None


def _check(ref: LayerRef, diff_id: str, blob: str, what: str) -> None:
    if ref.blob_digest is not None and blob != ref.blob_digest:
        raise InvalidParameter(f"{what}: its content has digest {blob}, not the {ref.blob_digest} "
                               f"it is named by: the archive is corrupt or was tampered with")
    if diff_id != ref.diff_id:
        raise InvalidParameter(f"{what}: its content has diff_id {diff_id}, not the {ref.diff_id} "
                               f"the image config lists: the archive is corrupt or was tampered "
                               f"with")


def unpack(ar: Archive, img: LoadedImage, rootfs: str | None, budget: Budget) -> None:
    """Apply every layer of `img` in order into the empty dir `rootfs`, each
    verified; with rootfs None only verify them (the image is already stored)."""
    for n, ref in enumerate(img.layers):
        what = f"image {img.id[7:19]} layer {n + 1} ({ref.member})"
        f = ar.tar.extractfile(ar.member(ref.member, what))
        if f is None:
            raise InvalidParameter(f"{what}: not a file in the archive")
        diff_id, blob = apply_layer(f, rootfs, budget, what)
        _check(ref, diff_id, blob, what)
