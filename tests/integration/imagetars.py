"""Build small image tarballs for `docker load` tests: a docker-archive
(`docker save` shape) and an OCI image layout, each of two layers on top of
busybox's static binary, the second layer holding whiteouts.

Layer 1: /bin/busybox (+ sh link), /etc/gone.txt, /data/old/{a,b}, /keep.txt
Layer 2: .wh.gone.txt in /etc (deletes it), /data/old/.wh..wh..opq with a
new /data/old/c (a and b vanish, c stays), /hello.txt.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, *, kind: str = "file",
         target: str = "", mode: int = 0o644) -> None:
    ti = tarfile.TarInfo(name)
    ti.mode = mode
    if kind == "dir":
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(ti)
    elif kind == "sym":
        ti.type, ti.linkname = tarfile.SYMTYPE, target
        tar.addfile(ti)
    else:
        ti.size = len(data or b"")
        tar.addfile(ti, io.BytesIO(data or b""))


def layers() -> list[bytes]:
    """The two layer tars (uncompressed)."""
    b1 = io.BytesIO()
    with tarfile.open(fileobj=b1, mode="w") as t:
        for d in ("bin", "etc", "data", "data/old", "tmp"):
            _add(t, d, kind="dir")
        with open(BUSYBOX, "rb") as f:
            _add(t, "bin/busybox", f.read(), mode=0o755)
        for app in ("sh", "cat", "ls", "echo", "sleep", "ping", "wget", "nc", "ip", "hostname",
                    "nslookup", "test"):
            _add(t, f"bin/{app}", kind="sym", target="busybox")
        _add(t, "etc/gone.txt", b"should be deleted by a whiteout\n")
        _add(t, "data/old/a", b"a\n")
        _add(t, "data/old/b", b"b\n")
        _add(t, "keep.txt", b"kept from layer 1\n")
    b2 = io.BytesIO()
    with tarfile.open(fileobj=b2, mode="w") as t:
        _add(t, "etc", kind="dir")
        _add(t, "etc/.wh.gone.txt", b"")
        _add(t, "data/old", kind="dir")
        _add(t, "data/old/c", b"c from layer 2\n")
        _add(t, "data/old/.wh..wh..opq", b"")
        _add(t, "hello.txt", b"hello from layer 2\n")
    return [b1.getvalue(), b2.getvalue()]


def _config(diff_ids: list[str]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "created": "2024-01-02T03:04:05Z",
                       "config": {"Cmd": ["sh"], "Env": ["PATH=/bin", "LOADED=1"],
                                  "WorkingDir": "/data", "Labels": {"from": "load-test"}},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def docker_archive(path: str, tag: str) -> str:
    """Write a legacy docker-archive (`<id>/layer.tar`); return the image id."""
    ls = layers()
    cfg = _config([f"sha256:{_sha(x)}" for x in ls])
    with tarfile.open(path, "w") as t:
        names = []
        for i, layer in enumerate(ls):
            _add(t, f"l{i}", kind="dir")
            _add(t, f"l{i}/layer.tar", layer)
            names.append(f"l{i}/layer.tar")
        _add(t, f"{_sha(cfg)}.json", cfg)
        _add(t, "manifest.json", json.dumps([{"Config": f"{_sha(cfg)}.json", "RepoTags": [tag],
                                              "Layers": names}]).encode())
    return "sha256:" + _sha(cfg)


def oci_layout(path: str, name: str) -> str:
    """Write an OCI image layout (gzip layers); return the image id (config digest)."""
    ls = layers()
    gz = [gzip.compress(x) for x in ls]
    cfg = _config([f"sha256:{_sha(x)}" for x in ls])
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": f"sha256:{_sha(cfg)}", "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": f"sha256:{_sha(g)}", "size": len(g)} for g in gz]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": f"sha256:{_sha(manifest)}", "size": len(manifest),
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}]}).encode()
    with tarfile.open(path, "w") as t:
        _add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(t, "blobs", kind="dir")
        _add(t, "blobs/sha256", kind="dir")
        for blob in [cfg, manifest, *gz]:
            _add(t, f"blobs/sha256/{_sha(blob)}", blob)
        _add(t, "index.json", index)
    return "sha256:" + _sha(cfg)


# ----- building blocks for tampered archives (test_image_integrity.py) -----
sha = _sha
config = _config


def member(name: str, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes | None]:
    """A tar member: a regular file of `data`, or any TarInfo attributes
    (type=tarfile.SYMTYPE, linkname=..., devmajor=...) for other kinds."""
    ti = tarfile.TarInfo(name)
    ti.mode = 0o644
    for k, v in attrs.items():
        setattr(ti, k, v)
    if ti.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
        ti.size = len(data)
        return ti, data
    return ti, None


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """An uncompressed tar of `members` (from member())."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in members:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def write_tar(path: str, files: list[tuple[str, bytes]]) -> None:
    """An outer archive holding these (name, bytes) files, in this order."""
    with open(path, "wb") as f:
        f.write(tar_bytes([member(n, d) for n, d in files]))


def docker_archive_files(layer_tars: list[bytes], tag: str, cfg: bytes | None = None,
                         cfg_name: str | None = None) -> list[tuple[str, bytes]]:
    """The files of a docker-archive (blobs/sha256 layout) for these layers;
    `cfg` defaults to a config whose diff_ids are the layers' digests."""
    cfg = cfg if cfg is not None else _config([f"sha256:{_sha(x)}" for x in layer_tars])
    cfg_name = cfg_name or f"blobs/sha256/{_sha(cfg)}"
    names = [f"blobs/sha256/{_sha(x)}" for x in layer_tars]
    manifest = [{"Config": cfg_name, "RepoTags": [tag], "Layers": names}]
    return ([(n, x) for n, x in zip(names, layer_tars)] + [(cfg_name, cfg)]
            + [("manifest.json", json.dumps(manifest).encode())])


def oci_files(index: dict, blobs: list[bytes]) -> list[tuple[str, bytes]]:
    """The files of an OCI layout: oci-layout, these blobs, index.json."""
    return ([("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')]
            + [(f"blobs/sha256/{_sha(b)}", b) for b in blobs]
            + [("index.json", json.dumps(index).encode())])


def descriptor(blob: bytes, media_type: str, **extra) -> dict:
    """An OCI descriptor of `blob`."""
    return {"mediaType": media_type, "digest": f"sha256:{_sha(blob)}", "size": len(blob), **extra}


INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
