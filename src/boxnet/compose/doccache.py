"""Remember parsed compose files: the same text gives the same (data, lines), so a file
parsed before needs neither PyYAML's import (~10 ms) nor its pure-Python parse.

An entry is one file under ``$XDG_CACHE_HOME/boxnet/compose-yaml/`` (default
``~/.cache``), named by the SHA-256 of: CACHE_VERSION, the Python version (marshal's
format), the source of yaml12.py (the parser's rules), the installed PyYAML (path,
size, mtime) and the text itself. It holds ``marshal.dumps((data, lines))``; marshal
keeps dict order and the exact types (1, 1.0, True, '1' stay apart). Only successful
parses are stored (errors are always computed, with their line numbers); a document
holding a `!reset`/`!override` tag (yaml12.Tagged, which marshal cannot hold) is not
stored. An entry that does not read back as two dicts is a miss. At most CACHE_MAX
entries. ``BOXNET_COMPOSE_CACHE=0`` turns this cache off, as the schema's
(compose/schema.py), whose passes are remembered the same way.
"""

from __future__ import annotations

import marshal
import os
import sys

from . import cachedir
from .digest import sha256

CACHE_VERSION = b"boxnet-compose-yaml-1"  # bump when the stored shape changes
CACHE_MAX = 256
_STAMP: list = []   # the parser's fingerprint, computed once per process


def _folder() -> str | None:
    return cachedir.folder("compose-yaml")


def _stamp() -> bytes | None:
    """What the parse depends on besides the text: yaml12.py's source and PyYAML's
    installed files (found without importing PyYAML)."""
    if not _STAMP:
        try:
            import importlib.util
            h = sha256()
            h.update(CACHE_VERSION)
            h.update(sys.version.encode())
            here = os.path.dirname(os.path.abspath(__file__))
            with open(os.path.join(here, "yaml12.py"), "rb") as f:
                h.update(f.read())
            spec = importlib.util.find_spec("yaml")
            if spec is None or not spec.origin:
                _STAMP.append(None)
                return None
            for path in [spec.origin] + sorted(
                    os.path.join(os.path.dirname(spec.origin), n)
                    for n in os.listdir(os.path.dirname(spec.origin))
                    if n.endswith((".py", ".so"))):
                st = os.stat(path)
                h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
            _STAMP.append(h.digest())
        except (OSError, ImportError, ValueError):
            _STAMP.append(None)
    return _STAMP[0]


def key(text: str) -> str | None:
    """The entry name for a text (None when the cache is off or cannot be keyed)."""
    if _folder() is None:
        return None
    stamp = _stamp()
    if stamp is None:
        return None
    h = sha256()
    h.update(stamp)
    try:
        h.update(text.encode("utf-8", "surrogatepass"))
    except UnicodeError:
        return None
    return h.hexdigest()


def get(name: str | None) -> tuple[dict, dict] | None:
    """The remembered (data, lines) of an entry, or None."""
    folder = _folder()
    if not (folder and name):
        return None
    try:
        with open(os.path.join(folder, name), "rb") as f:
            value = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], dict) \
            and isinstance(value[1], dict):
        return value
    return None


def put(name: str | None, data: dict, lines: dict) -> None:
    """Best effort: store (data, lines) under name; a cache that cannot be written, or a
    document marshal cannot hold, only costs time."""
    folder = _folder()
    if not (folder and name):
        return
    try:
        blob = marshal.dumps((data, lines))
    except ValueError:   # a yaml12.Tagged value
        return
    cachedir.store(folder, name, blob, CACHE_MAX)
