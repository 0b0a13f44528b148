"""`docker commit`: a new image from a container, and `docker history`.

The new image's root is the container's merged root (the image's files with
the writable layer's changes and deletions applied by the overlay itself),
copied into a staging directory of the image store (kernel/treecopy.py) and
stored through ImageStore.commit_loaded.  The runtime's mount-point stubs
(/etc/hosts, /etc/hostname, /etc/resolv.conf) are dropped when the image did
not have them.  Volumes are not part of it (they are not in the root, as in
Docker).  The image config is the parent's, with the container's settings
and then `changes` (Dockerfile instructions) applied; its rootfs.diff_ids and
history are the parent's plus one entry for the container's layer, whose
diff_id is the digest of a tar of the writable layer.  The image id is the
sha256 of that config, as in Docker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil

import msgspec

from boxnet.kernel.treecopy import copy_tree
from boxnet.runtime.cptar import Sink, TreeWriter, new_tar
from boxnet.runtime.imagemeta import Image, ImageConfig, _arch, _now
from boxnet.runtime.images import ImageStore
from boxnet.runtime.tarimport import apply_changes, rootfs_size

STUBS = ("etc/hosts", "etc/hostname", "etc/resolv.conf")


def parent_config(store: ImageStore, img: Image) -> dict:
    """The stored image config of `img` (config.json), or one made up for a
    built-in image (one history entry, no layers listed)."""
    try:
        with open(os.path.join(store.image_dir(img.id), "config.json"), "rb") as f:
            doc = json.loads(f.read())
        if isinstance(doc, dict):
            return doc
    except (OSError, ValueError):
        pass
    return {"rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created": img.created, "created_by": "",
                         "comment": img.comment or "boxnet built-in image"}]}


def layer_digest(upper: str) -> tuple[str, int]:
    """("sha256:" digest, bytes) of a tar of the writable layer `upper`."""
    h = hashlib.sha256()
    sink = Sink(h.update)
    if upper and os.path.isdir(upper):
        with new_tar(sink) as tar:
            fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                TreeWriter(tar).add_root_contents(fd)
            finally:
                os.close(fd)
    sink.close()
    return "sha256:" + h.hexdigest(), sink.total


def container_image_config(parent: ImageConfig, cont) -> ImageConfig:
    """The parent's config with the container's settings over it (Docker's merge)."""
    cfg = msgspec.structs.replace(parent)
    cc = cont.config
    if cc.cmd or cc.entrypoint:
        cfg.Cmd, cfg.Entrypoint = list(cc.cmd), list(cc.entrypoint)
    env = {e.split("=", 1)[0]: e for e in [*parent.Env, *cc.env]}
    cfg.Env = list(env.values())
    if cc.working_dir:
        cfg.WorkingDir = cc.working_dir
    cfg.Labels = {**parent.Labels, **cc.labels}
    cfg.ExposedPorts = {**parent.ExposedPorts, **{p: {} for p in cc.exposed_ports}}
    if cc.raw_config.get("User"):
        cfg.User = cc.raw_config["User"]
    return cfg


def commit(store: ImageStore, parent: Image, cont, merged_root: str, upper: str,
           changes: list[str], comment: str, author: str, tag: str | None,
           overrides=None) -> str:
    """Build and store the image; return its id.  Nothing is stored on error.
    `overrides(config) -> config` applies the request's config body after the
    container's settings and before `changes`.  Blocking: run it in a thread."""
    config = container_image_config(parent.config, cont)
    if overrides is not None:
        config = overrides(config)
    config = apply_changes(config, changes)
    name = store.check_tag(tag, "") if tag else None
    staged = store.staging_dir()
    try:
        rootfs = os.path.join(staged, "rootfs")
        os.mkdir(rootfs, 0o755)
        copy_tree(merged_root, rootfs)
        for stub in STUBS:
            p = os.path.join(rootfs, stub)
            if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) == 0 \
                    and not os.path.lexists(os.path.join(parent.rootfs, stub)):
                os.unlink(p)
        diff_id, _ = layer_digest(upper)
        now = _now()
        pdoc = parent_config(store, parent)
        entry = {"created": now, "created_by": " ".join([*cont.config.entrypoint,
                                                         *cont.config.cmd])}
        if author:
            entry["author"] = author
        if comment:
            entry["comment"] = comment
        c = config
        doc = {"architecture": _arch(), "os": "linux", "created": now, "container": cont.id,
               "config": {k: v for k, v in {
                   "Cmd": c.Cmd or None, "Entrypoint": c.Entrypoint or None,
                   "Env": c.Env or None, "WorkingDir": c.WorkingDir, "Labels": c.Labels or None,
                   "ExposedPorts": c.ExposedPorts or None, "User": c.User}.items()
                   if v not in (None, "")},
               "rootfs": {"type": "layers",
                          "diff_ids": [*(pdoc.get("rootfs") or {}).get("diff_ids", []),
                                       diff_id]},
               "history": [*(pdoc.get("history") or []), entry]}
        if author:
            doc["author"] = author
        data = msgspec.json.encode(doc, order="sorted")
        img = Image(id="sha256:" + hashlib.sha256(data).hexdigest(), created=now,
                    size=rootfs_size(rootfs), config=config, comment=comment)
        with open(os.path.join(staged, "config.json"), "wb") as f:
            f.write(data)
        store.commit_loaded([(img, [name] if name else [], staged)])
        staged = ""
        return img.id
    finally:
        if staged:
            shutil.rmtree(staged, ignore_errors=True)


def history(store: ImageStore, img: Image) -> list[dict]:
    """Docker's HistoryResponseItem list, newest first: one per history entry of
    the image config (the image's id and tags on the newest, "<missing>" on
    the others, as Docker shows layers it has no image for).  boxnet stores
    images flattened, so the whole size is shown on the newest entry."""
    entries = parent_config(store, img).get("history") or [{"created": img.created}]
    out = []
    for n, h in enumerate(reversed(entries)):
        ts = _unix_any(str(h.get("created") or img.created))
        out.append({"Id": img.id if n == 0 else "<missing>", "Created": ts,
                    "CreatedBy": h.get("created_by", ""),
                    "Tags": list(img.repo_tags) if n == 0 and img.repo_tags else None,
                    "Size": img.size if n == 0 else 0, "Comment": h.get("comment", "")})
    return out


def _unix_any(ts: str) -> int:
    """RFC 3339 (any number of fraction digits) to seconds; 0 when unreadable."""
    try:
        if "." not in ts:
            return int(dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())
        head, tail = ts.split(".", 1)
        zone = tail.lstrip("0123456789")
        zone = "+00:00" if zone in ("Z", "") else zone
        return int(dt.datetime.fromisoformat(head + zone).timestamp())
    except ValueError:
        return 0
