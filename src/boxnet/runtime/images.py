"""The image store: root filesystems on disk, named like Docker images.

Layout: <root>/images/<hex>/rootfs/ and <root>/images/<hex>/image.json
(metadata: id, tags, created, config, readonly).  No registry is reachable, so
images come from two built-ins (`ensure_builtin`) or from `docker import`
tarballs (`import_tar`, see tarimport.py).

Built-ins:
- busybox:latest: Debian's static busybox with its applet links.
- boxnet/host:latest: the host's root filesystem, read-only, with private
  tmpfs on /tmp, /run and /var/tmp, to run host programs (python3, nginx,
  iperf3) in an isolated netns.  Its rootfs is a non-recursive read-only bind
  of "/" (no /proc, /run/netns or other containers' mounts come along, and
  nothing can write through it), re-made after a reboot by ensure_builtin.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import shutil
import tempfile
import threading
from typing import BinaryIO

import msgspec

from boxnet.errors import InvalidParameter, NotFound
from boxnet.kernel.runc import is_mountpoint, umount
from boxnet.runtime.busybox import BUSYBOX, build_busybox_rootfs
from boxnet.runtime.tarimport import apply_changes, extract_rootfs

HOST_TMPFS = ["/tmp", "/run", "/var/tmp"]
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

    def summary(self) -> dict:
        """Docker's ImageSummary (GET /images/json)."""
        return {"Id": self.id, "ParentId": "", "RepoTags": list(self.repo_tags),
                "RepoDigests": [], "Created": _unix(self.created), "Size": self.size,
                "SharedSize": -1, "Labels": dict(self.config.Labels), "Containers": -1}

    def inspect(self) -> dict:
        """Docker's ImageInspect (GET /images/{name}/json)."""
        cfg = msgspec.to_builtins(self.config)
        cfg.setdefault("Cmd", [])
        return {
            "Id": self.id, "RepoTags": list(self.repo_tags), "RepoDigests": [],
            "Parent": "", "Comment": self.comment, "Created": self.created,
            "DockerVersion": "", "Author": "", "Config": cfg,
            "Architecture": _arch(), "Os": "linux", "Size": self.size,
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


def _du(path: str) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _remove_image_dir(d: str) -> None:
    """Delete an image directory, unmounting its rootfs first.

    Never recurse into a still-mounted rootfs: for boxnet/host that is "/"."""
    rootfs = os.path.join(d, "rootfs")
    umount(rootfs)
    if is_mountpoint(rootfs):
        raise OSError(f"{rootfs} is still mounted; not removing {d}")
    shutil.rmtree(d, ignore_errors=True)


def normalize_ref(ref: str) -> str:
    """"name" -> "name:latest"; a trailing ":tag" (not a registry port) is kept;
    Docker Hub's "docker.io/" and "library/" prefixes are dropped."""
    for prefix in ("docker.io/", "index.docker.io/", "library/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


class ImageStore:
    """Images on disk under <root>/images, indexed in memory."""

    def __init__(self, root: str):
        """Load every image found under <root>/images."""
        self.root = os.path.join(root, "images")
        os.makedirs(self.root, exist_ok=True)
        self._images: dict[str, Image] = {}
        self._lock = threading.Lock()  # import_tar may run in a worker thread
        for name in os.listdir(self.root):
            if name.startswith(".import-"):  # left by an import cut short by a crash
                shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)
                continue
            meta = os.path.join(self.root, name, "image.json")
            try:
                with open(meta, "rb") as f:
                    img = msgspec.json.decode(f.read(), type=Image)
            except (OSError, msgspec.DecodeError):
                continue  # half-written import: ignored (removed by its importer)
            self._images[img.id] = img

    # -- queries -------------------------------------------------------------
    def list(self) -> list[Image]:
        """All images, newest first."""
        return sorted(self._images.values(), key=lambda i: i.created, reverse=True)

    def get(self, ref: str) -> Image:
        """An image by name[:tag] (default tag latest), full id, or short id."""
        if ref in self._images:
            return self._images[ref]
        tagged = normalize_ref(ref)
        for img in self._images.values():
            if tagged in img.repo_tags:
                return img
        hexpart = ref[7:] if ref.startswith("sha256:") else ref
        if len(hexpart) >= 4 and all(c in "0123456789abcdef" for c in hexpart):
            found = [i for i in self._images.values() if i.id[7:].startswith(hexpart)]
            if len(found) == 1:
                return found[0]
        raise NotFound(f"No such image: {normalize_ref(ref)}")

    # -- changes ---------------------------------------------------------------
    def _dir(self, image_id: str) -> str:
        return os.path.join(self.root, image_id.split(":", 1)[1])

    def _save(self, img: Image) -> None:
        meta = os.path.join(self._dir(img.id), "image.json")
        with open(meta + ".tmp", "wb") as f:
            f.write(msgspec.json.encode(img))
        os.replace(meta + ".tmp", meta)
        self._images[img.id] = img

    def _claim_tag(self, img: Image, tag: str) -> None:
        """Give `tag` to `img`, taking it from any other image (it becomes dangling)."""
        for other in list(self._images.values()):
            if other.id != img.id and tag in other.repo_tags:
                other.repo_tags = [t for t in other.repo_tags if t != tag]
                self._save(other)
        if tag not in img.repo_tags:
            img.repo_tags = [*img.repo_tags, tag]

    def import_tar(self, fileobj: BinaryIO, repo: str | None = None, tag: str | None = None,
                   changes: list[str] = []) -> str:
        """`POST /images/create?fromSrc=-`: a root filesystem tarball (plain,
        gzip, bzip2 or xz) becomes an image; returns its id "sha256:<hex>".

        Blocking (disk I/O): call it from a worker thread (asyncio.to_thread)."""
        tmp = tempfile.mkdtemp(prefix=".import-", dir=self.root)
        try:
            rootfs = os.path.join(tmp, "rootfs")
            os.mkdir(rootfs, 0o755)
            digest = extract_rootfs(fileobj, rootfs)
            config = apply_changes(ImageConfig(), changes)
            created = _now()
            image_id = "sha256:" + hashlib.sha256(
                digest + msgspec.json.encode(config) + created.encode()).hexdigest()
            img = Image(id=image_id, created=created, size=_du(rootfs), config=config,
                        rootfs=os.path.join(self._dir(image_id), "rootfs"),
                        comment="Imported from -")
            with self._lock:
                os.rename(tmp, self._dir(image_id))
                tmp = ""
                if repo:
                    self._claim_tag(img, normalize_ref(f"{repo}:{tag}" if tag else repo))
                self._save(img)
            return image_id
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    def load_archive(self, path: str) -> list[str]:
        """`POST /images/load`: a docker-archive or OCI-layout tarball (see
        layers.py); returns Docker's progress lines ("Loaded image: busybox:1",
        "Loaded image ID: sha256:..."). Blocking: call from a worker thread."""
        import tarfile
        from boxnet.runtime.layers import read_archive, unpack
        lines: list[str] = []
        try:
            tar = tarfile.open(path, mode="r:*")
        except tarfile.TarError as e:
            raise InvalidParameter(f"not a tar archive: {e}") from None
        with tar:
            for li in read_archive(tar):
                image_id = li.config_digest if li.config_digest.startswith("sha256:") \
                    else "sha256:" + li.config_digest
                cfg = li.config.get("config") or li.config.get("Config") or {}
                config = msgspec.convert({k: v for k, v in cfg.items()
                                          if k in ImageConfig.__struct_fields__ and v is not None},
                                         ImageConfig)
                if image_id not in self._images:
                    tmp = tempfile.mkdtemp(prefix=".import-", dir=self.root)
                    try:
                        rootfs = os.path.join(tmp, "rootfs")
                        os.mkdir(rootfs, 0o755)
                        unpack(tar, li, rootfs)
                        img = Image(id=image_id, created=li.config.get("created") or _now(),
                                    size=_du(rootfs), config=config,
                                    rootfs=os.path.join(self._dir(image_id), "rootfs"))
                        with self._lock:
                            os.rename(tmp, self._dir(image_id))
                            tmp = ""
                            self._save(img)
                    finally:
                        if tmp:
                            shutil.rmtree(tmp, ignore_errors=True)
                img = self._images[image_id]
                with self._lock:
                    for t in li.tags:
                        self._claim_tag(img, normalize_ref(t))
                    self._save(img)
                lines += [f"Loaded image: {t}" for t in li.tags] or [f"Loaded image ID: {image_id}"]
        return lines

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        """`docker tag`: give image `ref` the name repo[:tag]."""
        img = self.get(ref)
        if not repo or repo.lower() != repo or " " in repo:
            raise InvalidParameter(f"invalid reference format: repository name ({repo}) "
                                   f"must be lowercase")
        with self._lock:
            self._claim_tag(img, normalize_ref(f"{repo}:{tag}" if tag else repo))
            self._save(img)

    def untag_all(self, image_id: str) -> list[str]:
        """Drop every name of an image, keep its files (containers use it)."""
        with self._lock:
            img = self._images[image_id]
            tags, img.repo_tags = list(img.repo_tags), []
            self._save(img)
        return tags

    def remove(self, ref: str) -> list[dict]:
        """Untag `ref`, and delete the image once it has no tag left (or when
        named by id).  Returns Docker's DeleteItem list.  Checking that no
        container uses the image is the core's job."""
        img = self.get(ref)
        with self._lock:
            out: list[dict] = []
            named = normalize_ref(ref)
            if named in img.repo_tags and len(img.repo_tags) > 1:
                img.repo_tags = [t for t in img.repo_tags if t != named]
                self._save(img)
                return [{"Untagged": named}]
            out += [{"Untagged": t} for t in img.repo_tags]
            _remove_image_dir(self._dir(img.id))
            del self._images[img.id]
            out.append({"Deleted": img.id})
            return out

    # -- built-in images ---------------------------------------------------------
    def ensure_builtin(self) -> None:
        """Create busybox:latest and boxnet/host:latest if missing (idempotent, fast).

        Also re-makes the host image's read-only bind of "/" when it is not
        mounted (after a reboot, or in a new mount namespace)."""
        with self._lock:
            self._ensure_busybox()
            self._ensure_host()

    def _builtin(self, tag: str, key: bytes, config: ImageConfig, readonly: bool,
                 tmpfs: list[str], build) -> Image:
        image_id = "sha256:" + hashlib.sha256(key).hexdigest()
        img = self._images.get(image_id)
        if img is None:
            d = self._dir(image_id)
            _remove_image_dir(d)
            os.makedirs(os.path.join(d, "rootfs"))
            img = Image(id=image_id, created=_now(), config=config,
                        rootfs=os.path.join(d, "rootfs"), readonly=readonly, tmpfs=tmpfs)
            img.size = build(img.rootfs)
        if tag not in img.repo_tags:
            self._claim_tag(img, tag)
        if image_id not in self._images or tag not in self._images[image_id].repo_tags:
            self._save(img)
        return img

    def _ensure_busybox(self) -> None:
        st = os.stat(BUSYBOX)
        key = f"busybox-v1:{st.st_size}:{st.st_mtime_ns}".encode()
        self._builtin("busybox:latest", key, ImageConfig(Cmd=["sh"], Env=[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
            False, [], build_busybox_rootfs)

    def _ensure_host(self) -> None:
        """boxnet/host: the host's "/" read-only.  The image holds no mount of
        its own: each container gets a private non-recursive read-only bind of
        "/" inside its bundle (runtime/oci.py), so nothing under the data root
        leads into the host's tree and an `rm -rf` of the data root stays safe."""
        img = self._builtin("boxnet/host:latest", b"boxnet-host-v1", ImageConfig(
            Cmd=["sh"], Env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
            True, list(HOST_TMPFS), lambda _: 0)
        img.rootfs = "/"
