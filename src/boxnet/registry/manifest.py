"""Manifests and indexes of the OCI image spec and Docker's schema 2, and the
choice of a platform in an index.  Pure: no I/O.

Accepted: Docker v2 schema 2 manifests and manifest lists, OCI manifests and
indexes.  Refused clearly: schema 1 (deprecated, unsigned content), foreign
and non-distributable layers (their bytes live outside the registry), and
layer types that are not tar (plain, gzip or zstd).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from boxnet.errors import InvalidParameter, NotFound
from boxnet.registry.errors import RegistryError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
MANIFEST_LIMIT = 4 << 20
CONFIG_LIMIT = 8 << 20
MAX_LAYERS = 256

LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "",
    OCI_LAYER: "", OCI_LAYER + "+gzip": "gzip", OCI_LAYER + "+zstd": "zstd",
}
FOREIGN = ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
           "application/vnd.oci.image.layer.nondistributable.v1.tar",
           "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
           "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: media type, digest, size."""

    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """An image manifest: its config and layers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Platform:
    """os/architecture[/variant]."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.architecture, self.variant) if x)


def host_platform() -> Platform:
    """This machine's platform in OCI words (linux/amd64, linux/arm64...)."""
    m = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)
    return Platform("linux", arch, "v7" if m == "armv7l" else "")


def parse_platform(s: str) -> Platform:
    """`--platform os[/arch[/variant]]`; InvalidParameter on anything else."""
    parts = s.strip().lower().split("/")
    if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"[a-z0-9_]+", p) for p in parts):
        raise InvalidParameter(f"invalid platform {s!r}: expected os[/arch[/variant]], "
                               f"e.g. linux/amd64")
    arch = parts[1] if len(parts) > 1 else host_platform().architecture
    arch = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}.get(arch, arch)
    return Platform(parts[0], arch, parts[2] if len(parts) > 2 else "")


def _descriptor(d: object, what: str) -> Descriptor:
    if not isinstance(d, dict):
        raise RegistryError(f"{what}: not a descriptor object")
    mt, digest, size = d.get("mediaType", ""), d.get("digest"), d.get("size")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise RegistryError(f"{what}: unsupported or malformed digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"{what}: malformed size {size!r}")
    return Descriptor(mt if isinstance(mt, str) else "", digest, size)


def decode(body: bytes, content_type: str) -> dict:
    """The JSON object of a manifest or index, with its mediaType settled."""
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise RegistryError(f"the registry sent a manifest that is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise RegistryError("the registry sent a manifest that is not a JSON object")
    if doc.get("schemaVersion") == 1:
        raise InvalidParameter("this image uses the deprecated Docker Image manifest v2 schema 1, "
                               "which boxnet does not pull; push it again with a current client")
    mt = doc.get("mediaType") or content_type.split(";")[0].strip()
    if not mt:
        mt = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    doc["mediaType"] = mt
    return doc


def is_index(doc: dict) -> bool:
    """Whether a decoded manifest is a manifest list / OCI index."""
    return doc["mediaType"] in (DOCKER_LIST, OCI_INDEX)


def choose(doc: dict, want: Platform, name: str) -> Descriptor:
    """The manifest of `want`'s platform in an index (variant matched when
    asked for; otherwise the first entry of the os/architecture)."""
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise RegistryError(f"{name}: index without a manifests list")
    for e in entries:
        p = e.get("platform") if isinstance(e, dict) else None
        if not isinstance(p, dict):
            continue
        if p.get("os") == want.os and p.get("architecture") == want.architecture and \
                (not want.variant or p.get("variant", "") == want.variant):
            return _descriptor(e, f"{name}: index entry")
    raise NotFound(f"no matching manifest for {want} in the manifest list entries")


def image_manifest(doc: dict, name: str) -> Manifest:
    """A decoded image manifest checked: config and layer descriptors, layer
    types we can apply (foreign layers refused)."""
    if doc["mediaType"] not in (DOCKER_MANIFEST, OCI_MANIFEST):
        raise InvalidParameter(f"{name}: unsupported manifest type {doc['mediaType']!r}")
    config = _descriptor(doc.get("config"), f"{name}: config")
    layers = doc.get("layers")
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise RegistryError(f"{name}: layers must be a list of at most {MAX_LAYERS}")
    out = []
    for i, d in enumerate(layers):
        desc = _descriptor(d, f"{name}: layer {i + 1}")
        if desc.media_type in FOREIGN:
            raise InvalidParameter(f"{name}: layer {desc.digest[7:19]} is a foreign layer "
                                   f"({desc.media_type}): its content lives outside the "
                                   f"registry and boxnet does not fetch it")
        if desc.media_type not in LAYER_TYPES:
            raise InvalidParameter(f"{name}: layer {desc.digest[7:19]} has unsupported media "
                                   f"type {desc.media_type!r}")
        out.append(desc)
    return Manifest(doc["mediaType"], config, tuple(out))


def config_platform(config: dict) -> Platform:
    """The platform an image config declares."""
    return Platform(str(config.get("os", "")), str(config.get("architecture", "")),
                    str(config.get("variant", "")))


def diff_ids(config: dict, n_layers: int, name: str) -> list[str]:
    """The config's rootfs.diff_ids, one sha256 digest per layer."""
    ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
    if not isinstance(ids, list) or len(ids) != n_layers or \
            not all(isinstance(x, str) and _DIGEST.match(x) for x in ids):
        raise RegistryError(f"{name}: the image config lists {len(ids or [])} diff_ids for "
                            f"{n_layers} layers, or malformed ones")
    return ids
