"""OCI image layouts (directories) for registry tests, seeded with
`skopeo copy [--all] oci:DIR:TAG docker://...`: multi-layer busybox-based
images with gzip, zstd or plain layers, and multi-platform indexes.

Layer 0 is imagetars' busybox layer (busybox + applet links); the others
are small tars of the files given.  Plain module (no pytest import)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import zstandard

from . import imagetars

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def files_layer(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer tar of these files (parents made)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        dirs = sorted({"/".join(n.split("/")[:i]) for n in files
                       for i in range(1, n.count("/") + 1)})
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def base_layer() -> bytes:
    """busybox with its applet links (imagetars' layer 1)."""
    return imagetars.layers()[0]


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _compress(layer: bytes, how: str) -> tuple[bytes, str]:
    if how == "gzip":
        return gzip.compress(layer, compresslevel=1, mtime=0), LAYER + "+gzip"
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(layer), LAYER + "+zstd"
    return layer, LAYER


class Layout:
    """An OCI layout directory being written."""

    def __init__(self, path: Path):
        """Create path/oci-layout and path/blobs/sha256."""
        self.path = Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.entries: list[dict] = []

    def blob(self, data: bytes) -> str:
        """Write a blob; its digest."""
        d = _sha(data)
        (self.path / "blobs" / "sha256" / d[7:]).write_bytes(data)
        return d

    def image(self, layers: list[bytes], compress: str = "gzip", arch: str = "amd64",
              env: list[str] | None = None) -> dict:
        """Write an image's blobs; its manifest descriptor (platform included)."""
        descs, diff_ids = [], []
        for layer in layers:
            data, mt = _compress(layer, compress)
            descs.append({"mediaType": mt, "digest": self.blob(data), "size": len(data)})
            diff_ids.append(_sha(layer))
        cfg = json.dumps({"architecture": arch, "os": "linux", "created": "2024-01-02T03:04:05Z",
                          "config": {"Cmd": ["sh"], "Env": env or ["PATH=/bin"]},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": self.blob(cfg), "size": len(cfg)},
                               "layers": descs}).encode()
        return {"mediaType": OCI_MANIFEST, "digest": self.blob(manifest), "size": len(manifest),
                "platform": {"os": "linux", "architecture": arch}}

    def tag(self, tag: str, desc: dict) -> None:
        """Name a manifest (or index) descriptor in index.json."""
        self.entries.append({**desc, "annotations": {"org.opencontainers.image.ref.name": tag}})
        (self.path / "index.json").write_text(json.dumps({"schemaVersion": 2,
                                                          "manifests": self.entries}))

    def index(self, manifests: list[dict]) -> dict:
        """Write an image index of these manifest descriptors; its descriptor."""
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": manifests}).encode()
        return {"mediaType": OCI_INDEX, "digest": self.blob(body), "size": len(body)}


def random_layer(name: str, size: int) -> bytes:
    """A layer holding one file of `size` random bytes (incompressible)."""
    return files_layer({name: os.urandom(size)})
