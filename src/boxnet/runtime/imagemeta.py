"""Image metadata: Docker's ImageConfig subset, one stored image, its
image-config JSON (whose digest is the id of an imported or saved image), and
image names ("name" -> "name:latest").  Pure data: no I/O."""

from __future__ import annotations

import datetime as _dt
import os

import msgspec

_EPOCH = "1970-01-01T00:00:00Z"


class ImageConfig(msgspec.Struct, kw_only=True):
    """The runnable defaults of an image (a subset of Docker's ImageConfig)."""

    Cmd: list[str] = []
    Entrypoint: list[str] = []
    Env: list[str] = []
    WorkingDir: str = ""
    Labels: dict[str, str] = {}
    ExposedPorts: dict[str, dict] = {}
    User: str = ""
    Healthcheck: dict | None = None   # HEALTHCHECK: Docker's HealthConfig (core/health.py)
    StopSignal: str = ""    # the signal `docker stop` sends (core/procstart.py)
    Volumes: dict[str, dict] = {}   # VOLUME: anonymous volumes at create (core/mounts.py)


class Image(msgspec.Struct, kw_only=True):
    """One image: metadata plus where its root filesystem lives.

    The core builds a ProcessSpec with rootfs=image.rootfs,
    readonly_rootfs=image.readonly and tmpfs=image.tmpfs + the user's."""

    id: str
    repo_tags: list[str] = []
    created: str = _EPOCH
    size: int = 0
    config: ImageConfig = msgspec.field(default_factory=ImageConfig)
    rootfs: str = ""
    readonly: bool = False
    tmpfs: list[str] = []
    comment: str = ""
    repo_digests: list[str] = []   # name@sha256:<manifest digest> of a pulled image
    blobs: list[str] = []          # layer blob digests in the blob store (pulled or pushed)
    architecture: str = ""         # the config's, for a pulled image ("": this host's)

    def summary(self) -> dict:
        """Docker's ImageSummary (GET /images/json)."""
        return {"Id": self.id, "ParentId": "", "RepoTags": list(self.repo_tags),
                "RepoDigests": list(self.repo_digests), "Created": _unix(self.created), "Size": self.size,
                "SharedSize": -1, "Labels": dict(self.config.Labels), "Containers": -1}

    def inspect(self) -> dict:
        """Docker's ImageInspect (GET /images/{name}/json)."""
        cfg = msgspec.to_builtins(self.config)
        cfg.setdefault("Cmd", [])
        if cfg.get("Healthcheck") is None:   # omitted by Docker when the image has none
            cfg.pop("Healthcheck", None)
        return {
            "Id": self.id, "RepoTags": list(self.repo_tags), "RepoDigests": list(self.repo_digests),
            "Parent": "", "Comment": self.comment, "Created": self.created,
            "DockerVersion": "", "Author": "", "Config": cfg,
            "Architecture": self.architecture or _arch(), "Os": "linux", "Size": self.size,
            "GraphDriver": {"Name": "overlay2", "Data": {"RootDir": self.rootfs}},
            "RootFS": {"Type": "layers", "Layers": [self.id]},
            "Metadata": {"LastTagTime": self.created},
        }


def _unix(ts: str) -> int:
    return int(_dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def config_json(img: Image, diff_ids: list[str], created_by: str) -> bytes:
    """The image config JSON (OCI/Docker image spec) of `img` with these
    layers; its sha256 is the image id of an imported or saved image."""
    c = img.config
    cfg = {k: v for k, v in {
        "Cmd": c.Cmd or None, "Entrypoint": c.Entrypoint or None, "Env": c.Env or None,
        "WorkingDir": c.WorkingDir, "Labels": c.Labels or None,
        "ExposedPorts": c.ExposedPorts or None, "User": c.User,
        "Healthcheck": c.Healthcheck, "Volumes": c.Volumes or None}.items() if v not in (None, "")}
    doc = {"architecture": _arch(), "os": "linux", "created": img.created, "config": cfg,
           "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
           "history": [{"created": img.created, "created_by": created_by,
                        "comment": img.comment or "boxnet image"}]}
    return msgspec.json.encode(doc, order="sorted")


def normalize_ref(ref: str) -> str:
    """"name" -> "name:latest"; a trailing ":tag" (not a registry port) is kept;
    Docker Hub's "docker.io/" and "library/" prefixes are dropped."""
    for prefix in ("docker.io/", "index.docker.io/", "library/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"
