"""The folders `boxnet compose` remembers work in (parsed files: compose/doccache.py,
schema passes: compose/schema.py): ``$XDG_CACHE_HOME/boxnet/<kind>/`` (default
``~/.cache``), one file an entry named by a digest of what it depends on, a bounded
number of entries. ``BOXNET_COMPOSE_CACHE=0`` turns every one of them off."""

from __future__ import annotations

import os


def folder(kind: str) -> str | None:
    """The cache folder of `kind` ("compose-yaml", "compose-schema"), None when off."""
    if os.environ.get("BOXNET_COMPOSE_CACHE", "1") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "boxnet", kind)


def store(where: str | None, name: str | None, blob: bytes, most: int) -> None:
    """Best effort: keep `blob` as entry `name` of folder `where`, written under a
    temporary name and renamed (a reader sees all of it or nothing); a folder holding
    `most` entries is emptied first (bounded: start afresh rather than track ages). A
    cache that cannot be written only costs time."""
    if not (where and name):
        return
    try:
        os.makedirs(where, mode=0o700, exist_ok=True)
        names = os.listdir(where)
        if len(names) >= most:
            for n in names:
                os.unlink(os.path.join(where, n))
        tmp = os.path.join(where, f".{name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, blob)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(where, name))
    except OSError:
        pass
