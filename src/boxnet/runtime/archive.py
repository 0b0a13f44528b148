"""`docker load` input: docker-archive and OCI image-layout tarballs, every
claim checked before anything is written.

Formats (the outer tar must be uncompressed and seekable: runtime/load.py
spools and decompresses the request body first):
- docker-archive (`docker save`): manifest.json lists Config, RepoTags and
  Layers (paths inside the archive; Docker >= 25 writes blobs/sha256/...).
- OCI image layout: oci-layout + index.json; manifests (or nested indexes)
  name a config blob and layer blobs; the tag comes from the
  io.containerd.image.name / org.opencontainers.image.ref.name annotations.

What is verified here (a mismatch is an InvalidParameter naming it):
- the image ID is the sha256 of the config's bytes; a config named by a
  digest (blobs/sha256/<hex>, <hex>.json) must have that digest;
- every OCI blob (index, manifest, config) has the digest and the size its
  descriptor declares, is read only after its declared size is found under
  a limit (4 MiB for an index or manifest, 8 MiB for a config), and layer
  blobs' member sizes match their descriptors (their digests are checked
  while they are applied: runtime/layers.py);
- nesting of indexes is at most MAX_DEPTH deep and one archive names at
  most MAX_DESCRIPTORS descriptors in all: content addressing already makes a
  cycle impossible (an index cannot hold its own digest), and these bounds
  stop a self-similar fan-out from expanding without end;
- paths in manifest.json stay inside the archive (no "..", not absolute),
  links inside the archive are followed only within it;
- the config holds one diff_id per layer, each a sha256 digest.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import tarfile
from dataclasses import dataclass, field

from boxnet.errors import InvalidParameter

JSON_LIMIT = 4 << 20
CONFIG_LIMIT = 8 << 20
MAX_MEMBERS = 20_000          # an archive holds a few members per layer
MAX_DEPTH = 4
MAX_DESCRIPTORS = 1024
MAX_LINK_HOPS = 8
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HEX_NAME = re.compile(r"(?:.*/)?([0-9a-f]{64})(?:\.json)?")


@dataclass
class LayerRef:
    """One layer to apply: where it is in the archive and what it must hash to."""

    member: str
    diff_id: str                 # sha256 of the uncompressed tar (from the config)
    blob_digest: str | None = None  # sha256 of the stored bytes, when the archive claims one


@dataclass
class LoadedImage:
    """One image found in an archive, its config verified."""

    id: str
    config: dict
    tags: list[str] = field(default_factory=list)
    layers: list[LayerRef] = field(default_factory=list)
    config_bytes: bytes = b""    # the config as stored in the archive (its sha256 is the id)


def _bad(msg: str) -> InvalidParameter:
    return InvalidParameter(msg)


def check_digest(value, what: str) -> str:
    """A "sha256:<64 hex>" digest, or a 400 naming `what`."""
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise _bad(f"{what}: invalid digest {value!r} (expected sha256:<64 hex digits>)")
    return value


class Archive:
    """The members of an outer image tarball, looked up safely by path."""

    def __init__(self, tar: tarfile.TarFile):
        """Index the members (at most MAX_MEMBERS)."""
        self.tar = tar
        self.members: dict[str, tarfile.TarInfo] = {}
        for n, m in enumerate(tar):
            if n >= MAX_MEMBERS:
                raise _bad(f"the archive has more than {MAX_MEMBERS} members; not an image archive")
            self.members[posixpath.normpath(m.name.lstrip("/")) if m.name else m.name] = m

    def has(self, name: str) -> bool:
        """Whether a member of that path exists."""
        return name in self.members

    def member(self, path, what: str) -> tarfile.TarInfo:
        """The regular-file member at `path` (links followed inside the archive)."""
        name = safe_path(path, what)
        for _ in range(MAX_LINK_HOPS):
            m = self.members.get(name)
            if m is None:
                raise _bad(f"{what}: the archive has no {name}")
            if m.isreg():
                return m
            if m.issym():
                name = safe_path(posixpath.join(posixpath.dirname(name), m.linkname), what)
            elif m.islnk():
                name = safe_path(m.linkname, what)
            else:
                raise _bad(f"{what}: {name} in the archive is not a file")
        raise _bad(f"{what}: {path} is a chain of more than {MAX_LINK_HOPS} links")

    def read(self, path, limit: int, what: str) -> bytes:
        """The bytes of a member no larger than `limit`."""
        m = self.member(path, what)
        if m.size > limit:
            raise _bad(f"{what}: {m.name} is {m.size} bytes, more than the {limit} allowed")
        f = self.tar.extractfile(m)
        data = f.read() if f is not None else b""
        if len(data) != m.size:
            raise _bad(f"{what}: {m.name} is truncated in the archive")
        return data

    def json(self, path, limit: int, what: str):
        """A member parsed as JSON."""
        try:
            return json.loads(self.read(path, limit, what))
        except (ValueError, RecursionError):  # RecursionError: nesting too deep
            raise _bad(f"{what}: {path} is not valid JSON") from None

    def blob(self, desc: dict, limit: int, what: str) -> bytes:
        """An OCI blob named by a descriptor: declared size under `limit`,
        member size equal to it, content hashing to its digest."""
        digest, size = check_digest(desc.get("digest"), what), desc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(f"{what}: descriptor of {digest} has no valid size ({size!r})")
        if size > limit:
            raise _bad(f"{what}: {digest} declares {size} bytes, more than the {limit} "
                       f"a manifest or config may have")
        name = "blobs/sha256/" + digest[7:]
        m = self.member(name, what)
        if m.size != size:
            raise _bad(f"{what}: {name} is {m.size} bytes but its descriptor declares {size}")
        data = self.read(name, limit, what)
        if hashlib.sha256(data).hexdigest() != digest[7:]:
            raise _bad(f"{what}: content of {name} does not match its digest {digest}: "
                       f"the archive is corrupt or was tampered with")
        return data


def safe_path(path, what: str) -> str:
    """A member path that stays inside the archive (normalized), or a 400."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise _bad(f"{what}: invalid path {path!r}")
    norm = posixpath.normpath(path)
    if path.startswith("/") or norm == ".." or norm.startswith("../"):
        raise _bad(f"{what}: path {path!r} points outside the archive")
    return norm


def parse_config(data: bytes, what: str) -> tuple[dict, list[str]]:
    """The config dict and its rootfs.diff_ids (validated)."""
    try:
        cfg = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting too deep
        raise _bad(f"{what}: the image config is not valid JSON") from None
    if not isinstance(cfg, dict):
        raise _bad(f"{what}: the image config is not a JSON object")
    rootfs = cfg.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise _bad(f"{what}: the image config has no rootfs.diff_ids list")
    return cfg, [check_digest(d, f"{what}: rootfs.diff_ids") for d in diff_ids]


def _str_list(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise _bad(f"{what}: expected a list of strings, got {value!r}")
    return value


def read_docker_archive(ar: Archive) -> list[LoadedImage]:
    """The images of a docker-archive (manifest.json)."""
    manifest = ar.json("manifest.json", JSON_LIMIT, "manifest.json")
    if not isinstance(manifest, list) or not all(isinstance(e, dict) for e in manifest):
        raise _bad("manifest.json: expected a list of objects")
    if len(manifest) > MAX_DESCRIPTORS:
        raise _bad(f"manifest.json: more than {MAX_DESCRIPTORS} images")
    out = []
    for n, entry in enumerate(manifest):
        what = f"manifest.json entry {n}"
        cfg_path = safe_path(entry.get("Config"), f"{what}: Config")
        data = ar.read(cfg_path, CONFIG_LIMIT, f"{what}: Config")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        claimed = _HEX_NAME.fullmatch(cfg_path)
        if claimed and claimed.group(1) != digest[7:]:
            raise _bad(f"{what}: the config {cfg_path} has digest {digest}, not the image ID "
                       f"sha256:{claimed.group(1)} its name claims: the archive is corrupt or "
                       f"was tampered with")
        cfg, diff_ids = parse_config(data, f"{what}: {cfg_path}")
        paths = [safe_path(p, f"{what}: Layers") for p in _str_list(entry.get("Layers"),
                                                                    f"{what}: Layers")]
        if len(paths) != len(diff_ids):
            raise _bad(f"{what}: {len(paths)} layers but the config lists {len(diff_ids)} "
                       f"diff_ids")
        layers = []
        for p, d in zip(paths, diff_ids):
            ar.member(p, f"{what}: layer {p}")
            named = re.fullmatch(r"blobs/sha256/([0-9a-f]{64})", p)
            layers.append(LayerRef(p, d, "sha256:" + named.group(1) if named else None))
        out.append(LoadedImage(digest, cfg, _str_list(entry.get("RepoTags"), f"{what}: RepoTags"),
                               layers, data))
    return out
