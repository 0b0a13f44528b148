"""The image store: root filesystems on disk, named like Docker images.

Layout: <root>/images/<hex>/rootfs/, <root>/images/<hex>/image.json
(metadata: id, tags, created, config, readonly) and, for imported and loaded
images, <root>/images/<hex>/config.json (the image config; sha256 = <hex>).
No registry is reachable, so images come from two built-ins (`ensure_builtin`), from `docker import`
tarballs (`import_tar`, see tarimport.py) or from `docker load` archives
(`load_archive`, see load.py).  The id of an imported or loaded image is the
sha256 digest of its image config, as in Docker; a loaded image is stored
only once all of its layers matched their digests.

Built-ins:
- busybox:latest: Debian's static busybox with its applet links.
- boxnet/host:latest (only with boxnetd --allow-host-image, see
  hostimage.py): the host's root filesystem, read-only, with private tmpfs on
  /tmp, /run and /var/tmp, to run host programs (python3, nginx, iperf3) in
  an isolated netns.  Each container gets its own private, non-recursive,
  read-only bind of "/" (runtime/oci.py) with boxnet's state masked.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from typing import BinaryIO

import msgspec

from boxnet.errors import InvalidParameter, NotFound
from boxnet.kernel.runc import is_mountpoint, umount
from boxnet.runtime import hostimage
from boxnet.runtime.busybox import BUSYBOX, build_busybox_rootfs
from boxnet.runtime.hostimage import HOST_TMPFS
from boxnet.runtime.imagemeta import (Image, ImageConfig, _now,  # noqa: F401 (re-exported)
                                      config_json, normalize_ref)
from boxnet.runtime.layerstream import Budget
from boxnet.runtime.tarimport import apply_changes, extract_rootfs, rootfs_size


def _remove_image_dir(d: str) -> None:
    """Delete an image directory, unmounting its rootfs first.

    Never recurse into a still-mounted rootfs: for boxnet/host that is "/"."""
    rootfs = os.path.join(d, "rootfs")
    umount(rootfs)
    if is_mountpoint(rootfs):
        raise OSError(f"{rootfs} is still mounted; not removing {d}")
    shutil.rmtree(d, ignore_errors=True)


class ImageStore:
    """Images on disk under <root>/images, indexed in memory."""

    def __init__(self, root: str, allow_host_image: bool = False):
        """Load every image found under <root>/images.  Without
        `allow_host_image` (boxnetd --allow-host-image) the boxnet/host image
        is neither made nor listed, and naming it is a 403 (hostimage.py)."""
        self.root = os.path.join(root, "images")
        self.allow_host_image = allow_host_image
        os.makedirs(self.root, exist_ok=True)
        self._images: dict[str, Image] = {}
        self._lock = threading.Lock()  # imports and loads run in worker threads
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            if name.startswith(".import-"):  # left by an import cut short by a crash
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
                continue
            try:
                with open(os.path.join(path, "image.json"), "rb") as f:
                    img = msgspec.json.decode(f.read(), type=Image)
            except (OSError, msgspec.DecodeError):
                continue  # half-written import: ignored (replaced by the next load of it)
            if img.id == hostimage.HOST_ID and not allow_host_image:
                continue
            self._images[img.id] = img

    # -- queries -------------------------------------------------------------
    def list(self) -> list[Image]:
        """All images, newest first."""
        return sorted(self._images.values(), key=lambda i: i.created, reverse=True)

    def has(self, image_id: str) -> bool:
        """Whether an image of this full id is stored."""
        return image_id in self._images

    def get(self, ref: str) -> Image:
        """An image by name[:tag] (default tag latest), full id, or short id.

        Forbidden for the host image on a daemon without --allow-host-image."""
        if not self.allow_host_image and hostimage.is_host_ref(ref, normalize_ref(ref)):
            raise hostimage.disabled(ref)
        if ref in self._images:
            return self._images[ref]
        if "@" in ref:        # name@sha256:<manifest digest> of a pulled image
            name, _, digest = ref.partition("@")
            name = normalize_ref(name).rsplit(":", 1)[0] if ":" not in name.rsplit("/", 1)[-1] \
                else normalize_ref(name.rsplit(":", 1)[0]).rsplit(":", 1)[0]
            for img in self._images.values():
                if f"{name}@{digest}" in img.repo_digests:
                    return img
            raise NotFound(f"No such image: {ref}")
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

    @staticmethod
    def check_tag(tag: str, image_id: str) -> str:
        """A name[:tag] normalized, or InvalidParameter: the repository must be
        lowercase without spaces, and boxnet/host is reserved (hostimage.py)."""
        named = normalize_ref(tag)
        repo = named.rsplit(":", 1)[0]
        if not repo or repo.lower() != repo or any(c.isspace() for c in named):
            raise InvalidParameter(f"invalid reference format: {tag!r} (the repository name "
                                   f"must be lowercase, without spaces)")
        hostimage.check_tag(named, image_id)
        return named

    def _claim_tag(self, img: Image, tag: str) -> None:
        """Give `tag` to `img`, taking it from any other image (it becomes dangling)."""
        tag = self.check_tag(tag, img.id)
        for other in list(self._images.values()):
            if other.id != img.id and tag in other.repo_tags:
                other.repo_tags = [t for t in other.repo_tags if t != tag]
                self._save(other)
        if tag not in img.repo_tags:
            img.repo_tags = [*img.repo_tags, tag]

    def staging_dir(self) -> str:
        """A new empty directory under the image root where an image is built
        before it is stored (removed at the next start if a crash leaves it)."""
        return tempfile.mkdtemp(prefix=".import-", dir=self.root)

    def store_staged(self, img: Image, staged: str) -> Image:
        """Move a fully verified image from its staging dir into the store
        (under the lock).  If the same id was stored meanwhile the staged copy
        is dropped: equal ids mean equal verified content.  Returns the stored image."""
        if img.id in self._images:
            shutil.rmtree(staged, ignore_errors=True)
            return self._images[img.id]
        d = self._dir(img.id)
        if os.path.lexists(d):  # a dir without image.json: left by a crash, never listed
            _remove_image_dir(d)
        os.rename(staged, d)
        img.rootfs = os.path.join(d, "rootfs")
        self._save(img)
        return img

    def import_tar(self, fileobj: BinaryIO, repo: str | None = None, tag: str | None = None,
                   changes: list[str] = []) -> str:
        """`POST /images/create?fromSrc=-`: a root filesystem tarball (plain,
        gzip, bzip2 or xz) becomes an image; returns its id "sha256:<hex>",
        the digest of its image config (whose one diff_id is the tarball's).

        Nothing is stored on error.  Blocking (disk I/O): call it from a
        worker thread (asyncio.to_thread)."""
        config = apply_changes(ImageConfig(), changes)
        name = self.check_tag(f"{repo}:{tag}" if tag else repo, "") if repo else None
        tmp = self.staging_dir()
        try:
            rootfs = os.path.join(tmp, "rootfs")
            os.mkdir(rootfs, 0o755)
            diff_id = extract_rootfs(fileobj, rootfs, Budget(self.root))
            img = Image(id="", created=_now(), size=rootfs_size(rootfs), config=config,
                        comment="Imported from -")
            config_bytes = config_json(img, [diff_id], "boxnet import")
            img.id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
            with open(os.path.join(tmp, "config.json"), "wb") as f:
                f.write(config_bytes)  # kept: its sha256 is the image id
            with self._lock:
                img = self.store_staged(img, tmp)
                tmp = ""
                if name:
                    self._claim_tag(img, name)
                self._save(img)
            return img.id
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    def load_archive(self, path: str) -> list[str]:
        """`POST /images/load` (see load.py); Docker's progress lines."""
        from boxnet.runtime.load import load_archive
        return load_archive(self, path)

    def commit_loaded(self, items: list[tuple[Image, list[str], str | None]]) -> list[str]:
        """Store the verified images of one load and give them their tags, all
        under the lock.  `items`: (image, normalized tags, staging dir or None
        when the id is already stored).  Returns Docker's progress lines."""
        lines: list[str] = []
        with self._lock:
            for img, tags, staged in items:
                stored = self.store_staged(img, staged) if staged else self._images[img.id]
                for t in tags:
                    self._claim_tag(stored, t)
                self._save(stored)
                lines += [f"Loaded image: {t}" for t in tags] or [f"Loaded image ID: {img.id}"]
        return lines

    def commit_pulled(self, img: Image, staged: str, tag: str, repo_digest: str) -> None:
        """Store a pulled image whose layers were all verified (registry/pull.py)
        and give it `tag` ("" when pulled by digest) and `repo_digest`."""
        self.commit_loaded([(img, [], staged)])
        self.add_names(img.id, tag, repo_digest)

    def add_names(self, image_id: str, tag: str, repo_digest: str) -> bool:
        """Give a stored image a tag (taken from any other image) and a repo
        digest; True when the tag was not already this image's."""
        with self._lock:
            img = self._images[image_id]
            fresh = bool(tag) and tag not in img.repo_tags
            if tag:
                self._claim_tag(img, tag)
            if repo_digest and repo_digest not in img.repo_digests:
                repo = repo_digest.split("@", 1)[0]
                img.repo_digests = [d for d in img.repo_digests
                                    if d.split("@", 1)[0] != repo] + [repo_digest]
            self._save(img)
            return fresh

    def set_blobs(self, image_id: str, blobs: list[str], repo_digest: str = "") -> None:
        """Record the layer blobs an image was pushed as (registry/push.py)."""
        with self._lock:
            img = self._images[image_id]
            img.blobs = list(blobs)
            if repo_digest and repo_digest not in img.repo_digests:
                img.repo_digests = [*img.repo_digests, repo_digest]
            self._save(img)

    def image_dir(self, image_id: str) -> str:
        """The directory of a stored image (config.json, manifest.json, rootfs/)."""
        return self._dir(image_id)

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        """`docker tag`: give image `ref` the name repo[:tag]."""
        img = self.get(ref)
        if not repo:
            raise InvalidParameter("invalid reference format: no repository name")
        with self._lock:
            self._claim_tag(img, f"{repo}:{tag}" if tag else repo)
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
        """Create busybox:latest, and boxnet/host:latest when allowed, if
        missing (idempotent, fast)."""
        with self._lock:
            self._ensure_busybox()
            if self.allow_host_image:
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
        img = self._builtin(hostimage.HOST_TAG, hostimage.HOST_KEY, ImageConfig(
            Cmd=["sh"], Env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
            True, list(HOST_TMPFS), lambda _: 0)
        img.rootfs = "/"
