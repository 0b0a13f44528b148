"""OCI image layouts (index.json) for `docker load`, walked with bounds.

Every index, manifest and config blob is read through Archive.blob (declared
size under a limit, then size and digest checked); nested indexes are
followed at most MAX_DEPTH deep and at most MAX_DESCRIPTORS descriptors are
visited in all, so a malformed or hostile index is a 400, never a
RecursionError or an unbounded walk.  Manifests for another platform are
skipped before their blobs are read (an export may omit them), and so are
attestation manifests (Docker's provenance records, not images).
"""

from __future__ import annotations

import json
import os

from boxnet.errors import InvalidParameter
from boxnet.runtime.archive import (CONFIG_LIMIT, JSON_LIMIT, MAX_DEPTH, MAX_DESCRIPTORS,
                                    Archive, LayerRef, LoadedImage, check_digest, parse_config,
                                    read_docker_archive)

_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")


def _arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _json(data: bytes, what: str) -> dict:
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting too deep
        raise InvalidParameter(f"{what}: not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidParameter(f"{what}: not a JSON object")
    return body


class _Walk:
    """One walk of an index tree; counts descriptors across the whole archive."""

    def __init__(self, ar: Archive):
        self.ar, self.seen, self.images = ar, 0, []
        self._keys: set[tuple[str, str | None]] = set()

    def index(self, body: dict, depth: int, name: str | None, what: str) -> None:
        descs = body.get("manifests")
        if not isinstance(descs, list):
            raise InvalidParameter(f"{what}: no manifests list")
        for n, desc in enumerate(descs):
            self.seen += 1
            if self.seen > MAX_DESCRIPTORS:
                raise InvalidParameter(f"{what}: the archive names more than {MAX_DESCRIPTORS} "
                                       f"manifests and indexes; refusing it")
            if not isinstance(desc, dict):
                raise InvalidParameter(f"{what}: manifests[{n}] is not a descriptor object")
            self.descriptor(desc, depth, name, f"{what} > manifests[{n}]")

    def descriptor(self, desc: dict, depth: int, name: str | None, what: str) -> None:
        check_digest(desc.get("digest"), what)
        ann = desc.get("annotations") if isinstance(desc.get("annotations"), dict) else {}
        tag = ann.get("io.containerd.image.name") or name
        ref = ann.get("org.opencontainers.image.ref.name")
        if isinstance(ref, str) and ref and not tag and (":" in ref or "/" in ref):
            tag = ref
        tag = tag if isinstance(tag, str) and tag else None
        mt = desc.get("mediaType", "")
        plat = desc.get("platform") if isinstance(desc.get("platform"), dict) else {}
        if mt not in _INDEX_TYPES:
            if ann.get("vnd.docker.reference.type") == "attestation-manifest":
                return
            if plat.get("architecture", _arch()) not in (_arch(), "unknown"):
                return
        body = _json(self.ar.blob(desc, JSON_LIMIT, what), what)
        if mt in _INDEX_TYPES or (not mt and "manifests" in body):
            if depth + 1 > MAX_DEPTH:
                raise InvalidParameter(f"{what}: indexes nested more than {MAX_DEPTH} deep; "
                                       f"refusing the archive")
            self.index(body, depth + 1, tag, what)
        else:
            self.manifest(body, tag, what)

    def manifest(self, body: dict, tag: str | None, what: str) -> None:
        cfg_desc, layer_descs = body.get("config"), body.get("layers", [])
        if not isinstance(cfg_desc, dict) or not isinstance(layer_descs, list):
            raise InvalidParameter(f"{what}: an image manifest needs a config descriptor "
                                   f"and a layers list")
        image_id = check_digest(cfg_desc.get("digest"), f"{what}: config")
        if (image_id, tag) in self._keys:
            return
        self._keys.add((image_id, tag))
        data = self.ar.blob(cfg_desc, CONFIG_LIMIT, f"{what}: config")
        cfg, diff_ids = parse_config(data, f"{what}: config {image_id}")
        if len(layer_descs) != len(diff_ids):
            raise InvalidParameter(f"{what}: {len(layer_descs)} layers but the config lists "
                                   f"{len(diff_ids)} diff_ids")
        layers = []
        for n, (ld, diff_id) in enumerate(zip(layer_descs, diff_ids)):
            lw = f"{what}: layers[{n}]"
            if not isinstance(ld, dict):
                raise InvalidParameter(f"{lw}: not a descriptor object")
            digest, size = check_digest(ld.get("digest"), lw), ld.get("size")
            m = self.ar.member("blobs/sha256/" + digest[7:], lw)
            if not isinstance(size, int) or isinstance(size, bool) or m.size != size:
                raise InvalidParameter(f"{lw}: blob {digest} is {m.size} bytes but its "
                                       f"descriptor declares {size!r}")
            layers.append(LayerRef("blobs/sha256/" + digest[7:], diff_id, digest))
        self.images.append(LoadedImage(image_id, cfg, [tag] if tag else [], layers, data))


def read_oci_layout(ar: Archive) -> list[LoadedImage]:
    """The images of an OCI image layout, for this machine's platform."""
    walk = _Walk(ar)
    walk.index(_json(ar.read("index.json", JSON_LIMIT, "index.json"), "index.json"), 0, None,
               "index.json")
    return walk.images


def read_archive(ar: Archive) -> list[LoadedImage]:
    """The images of a docker-archive or an OCI layout (docker-archive wins
    when both are present, as Docker's loader does)."""
    if ar.has("manifest.json"):
        return read_docker_archive(ar)
    if ar.has("index.json") or ar.has("oci-layout"):
        return read_oci_layout(ar)
    raise InvalidParameter("not an image archive: no manifest.json (docker-archive) "
                           "or index.json (OCI layout); use `docker import` for a rootfs tarball")
