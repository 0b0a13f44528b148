"""`docker load`: docker-archive and OCI image-layout tarballs -> a rootfs.

Formats read (the outer tar must be seekable: the API route spools it to a
temp file first):
- docker-archive (`docker save`): manifest.json lists Config, RepoTags and
  Layers (paths inside the archive; Docker >= 25 writes blobs/sha256/...).
- OCI image layout: oci-layout + index.json; manifests (or nested indexes)
  name a config blob and layer blobs; the tag comes from the
  org.opencontainers.image.ref.name / io.containerd.image.name annotations.

Layers (plain, gzip, bzip2 or xz tars) are applied in order with the safe
extractor of tarimport.py, honouring whiteouts: `.wh.NAME` deletes NAME from
the lower layers and `.wh..wh..opq` empties its directory of lower-layer
content (entries of the same layer are kept).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from typing import Iterator

from boxnet.errors import InvalidParameter
from boxnet.runtime.tarimport import _check_parents, _clean_name, _extract_one

WH = ".wh."
OPAQUE = ".wh..wh..opq"


class LoadedImage:
    """One image found in an archive: its config, tags and layer members."""

    def __init__(self, config: dict, tags: list[str], layers: list[str], config_digest: str):
        self.config, self.tags, self.layers, self.config_digest = config, tags, layers, config_digest


def _json(tar: tarfile.TarFile, name: str):
    try:
        f = tar.extractfile(name.lstrip("./") if name.startswith("./") else name)
    except KeyError:
        raise InvalidParameter(f"archive has no {name}") from None
    if f is None:
        raise InvalidParameter(f"{name} in the archive is not a file")
    try:
        return json.loads(f.read())
    except ValueError:
        raise InvalidParameter(f"{name} in the archive is not valid JSON") from None


def _blob(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if not hexpart or "/" in hexpart or "/" in algo or ".." in digest:
        raise InvalidParameter(f"invalid digest {digest!r}")
    return f"blobs/{algo}/{hexpart}"


def _oci_manifests(tar: tarfile.TarFile, index: dict, tag: str | None) -> Iterator[tuple[dict, str | None]]:
    for desc in index.get("manifests") or []:
        ann = desc.get("annotations") or {}
        name = ann.get("io.containerd.image.name") or tag
        ref = ann.get("org.opencontainers.image.ref.name")
        if ref and not name:
            name = ref if ":" in ref or "/" in ref else None
        mt = desc.get("mediaType", "")
        body = _json(tar, _blob(desc["digest"]))
        if "index" in mt or "manifest.list" in mt or "manifests" in body:
            yield from _oci_manifests(tar, body, name)
        else:
            plat = desc.get("platform") or {}
            if plat.get("architecture", "amd64") not in ("amd64", "unknown"):
                continue
            yield body, name


def read_archive(tar: tarfile.TarFile) -> list[LoadedImage]:
    """The images described by a docker-archive or OCI-layout tarball."""
    names = set(tar.getnames())
    out: list[LoadedImage] = []
    if "manifest.json" in names:
        for entry in _json(tar, "manifest.json"):
            cfg_name = entry["Config"]
            digest = cfg_name.rsplit("/", 1)[-1].removesuffix(".json")
            out.append(LoadedImage(_json(tar, cfg_name), list(entry.get("RepoTags") or []),
                                   list(entry["Layers"]), "sha256:" + digest))
        return out
    if "index.json" in names or "oci-layout" in names:
        seen = set()
        for manifest, name in _oci_manifests(tar, _json(tar, "index.json"), None):
            cfg_digest = manifest["config"]["digest"]
            if (cfg_digest, name) in seen:
                continue
            seen.add((cfg_digest, name))
            out.append(LoadedImage(_json(tar, _blob(cfg_digest)), [name] if name else [],
                                   [_blob(layer["digest"]) for layer in manifest.get("layers", [])],
                                   cfg_digest))
        return out
    raise InvalidParameter("not an image archive: no manifest.json (docker-archive) "
                           "or index.json (OCI layout); use `docker import` for a rootfs tarball")


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def apply_layer(fileobj, rootfs: str) -> None:
    """Apply one layer tar (any compression) on top of `rootfs`, whiteouts included."""
    try:
        tar = tarfile.open(fileobj=fileobj, mode="r|*")
    except tarfile.TarError as e:
        raise InvalidParameter(f"bad layer: {e}") from None
    this_layer: set[str] = set()
    with tar:
        try:
            for m in tar:
                rel = _clean_name(m.name)
                if rel is None:
                    continue
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
        except (tarfile.TarError, EOFError, OSError) as e:
            raise InvalidParameter(f"bad layer: {e}") from None


def unpack(tar: tarfile.TarFile, img: LoadedImage, rootfs: str) -> None:
    """Apply every layer of `img` in order into the empty dir `rootfs`."""
    for layer in img.layers:
        try:
            f = tar.extractfile(layer)
        except KeyError:
            raise InvalidParameter(f"archive has no layer {layer}") from None
        if f is None:
            raise InvalidParameter(f"layer {layer} is not a file")
        apply_layer(f, rootfs)
