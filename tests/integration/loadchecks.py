"""Checks shared by the image-integrity test modules: POST /images/load of
an archive, and "refused": a 400 naming the problem, with `image ls`, the
image store and the data root unchanged."""

from __future__ import annotations

import os
import tarfile

from integration import imagetars as it


def store_state(h) -> tuple:
    """What must not change after a refused load: every tag, every image id,
    the entries of the image store and of the data root."""
    imgs = h.api_ok("GET", "/images/json")
    return (sorted(t for i in imgs for t in i["RepoTags"]), sorted(i["Id"] for i in imgs),
            sorted(os.listdir(h.data_root / "images")), sorted(os.listdir(h.data_root)))


def load(h, files: list[tuple[str, bytes]] | bytes, tmp_path) -> tuple[int, object]:
    """POST /images/load of an archive (files, or raw bytes)."""
    body = files if isinstance(files, bytes) else it.tar_bytes([it.member(n, d) for n, d in files])
    return h.api("POST", "/images/load", body=body, headers={"Content-Type": "application/x-tar"})


def refused(h, files, tmp_path, *words: str) -> str:
    """Load must be a 400 whose message has every word; nothing may change."""
    before = store_state(h)
    status, body = load(h, files, tmp_path)
    assert status == 400, (status, body)
    msg = body["message"]
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert store_state(h) == before
    return msg


def one_layer(host, tmp_path, members, tag: str):
    """Load a one-layer image (busybox binary + `members`): (status, body)."""
    with open(it.BUSYBOX, "rb") as f:
        base = [it.member("bin", type=tarfile.DIRTYPE, mode=0o755),
                it.member("bin/busybox", f.read(), mode=0o755),
                it.member("bin/sh", type=tarfile.SYMTYPE, linkname="busybox"),
                it.member("tmp", type=tarfile.DIRTYPE, mode=0o1777)]
    layer = it.tar_bytes(base + members)
    return load(host, it.docker_archive_files([layer], tag), tmp_path)
