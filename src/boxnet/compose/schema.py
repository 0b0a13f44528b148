"""Validate one compose document against the compose-spec JSON schema (Draft 7).

The schema is the compose-spec's own (copied beside this module, so the package is
self-contained). Each violation becomes a ComposeError naming file, path and line, with
the wording turned towards what to change.

Importing jsonschema and building the validator costs ~65 ms, more than the rest of a
`compose down`. So a document that passed is remembered: an empty file under
``$XDG_CACHE_HOME/boxnet/compose-schema/`` (default ``~/.cache``) named by the SHA-256 of
the schema, of the installed jsonschema (path, size, mtime) and of the document's exact
value (``repr`` keeps 1, 1.0, True and '1' apart). Validation is a pure function of
those, so a hit is the same verdict. Only passes are stored (errors are always computed,
with their line numbers), at most CACHE_MAX of them. ``BOXNET_COMPOSE_CACHE=0`` turns
the cache off.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from pathlib import Path

from . import cachedir
from .digest import sha256
from .errors import ComposeError
from .interpolate import line_of

SCHEMA_PATH = Path(__file__).with_name("compose-spec.json")
CACHE_VERSION = b"boxnet-compose-schema-1"  # bump when the validation rules change
CACHE_MAX = 512  # remembered documents (empty files)


@functools.lru_cache(maxsize=1)
def validator():
    """The compiled Draft7Validator (built once per process)."""
    import jsonschema
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft7Validator(schema)


def _message(err) -> tuple[str, str]:
    """A short message and a hint for one jsonschema error."""
    v = err.validator
    if v == "additionalProperties":
        extra = [k for k in err.instance if k not in (err.schema.get("properties") or {})]
        extra = [k for k in extra if not k.startswith("x-")]
        return (f"unknown key {', '.join(map(repr, extra)) or '?'}",
                "check the spelling; extension keys start with `x-`")
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"must be a {want}, not {type(err.instance).__name__} {err.instance!r}"[:300], ""
    if v == "required":
        return err.message, "add it"
    if v in ("oneOf", "anyOf"):
        best = _deepest(err)
        if best is not None and best is not err:
            return _message(best)
        return f"{err.instance!r} has none of the allowed forms"[:300], \
            "see the compose specification for this key"
    if v == "enum":
        return (f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}",
                "")
    if v == "pattern":
        return f"{err.instance!r} does not match {err.validator_value}", ""
    return err.message[:300], ""


def _deepest(err):
    """Among the alternatives of a oneOf/anyOf, the error that went deepest (most useful)."""
    best = None
    for sub in err.context or []:
        if best is None or len(sub.absolute_path) > len(best.absolute_path):
            best = sub
    return best


def _cache_dir() -> str | None:
    return cachedir.folder("compose-schema")


def _fingerprint(doc) -> str | None:
    """SHA-256 of (cache version, schema, jsonschema install, the document's exact value)."""
    try:
        h = sha256(CACHE_VERSION)
        h.update(sha256(SCHEMA_PATH.read_bytes()).digest())
        spec = importlib.util.find_spec("jsonschema")
        if spec is None or not spec.origin:
            return None
        st = os.stat(spec.origin)
        h.update(f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}".encode())
        h.update(repr(doc).encode("utf-8", "surrogatepass"))
        return h.hexdigest()
    except (OSError, RecursionError, UnicodeError, ImportError, ValueError):
        return None


def _known_valid(folder: str | None, key: str | None) -> bool:
    return bool(folder and key) and os.path.exists(os.path.join(folder, key))


def _remember_valid(folder: str | None, key: str | None) -> None:
    """Best effort: an empty entry marks the document valid."""
    cachedir.store(folder, key, b"", CACHE_MAX)


def validate(doc: dict, file: str, lines: dict) -> None:
    """Raise ComposeError for the first violation (the one earliest in the file)."""
    folder = _cache_dir()
    key = _fingerprint(doc) if folder else None
    if _known_valid(folder, key):
        return
    errors = list(validator().iter_errors(doc))
    if not errors:
        _remember_valid(folder, key)
        return

    def where(e):
        err = _deepest(e) if e.validator in ("oneOf", "anyOf") and e.context else e
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = err.schema.get("properties") or {}
            extra = [k for k in err.instance if k not in known and not str(k).startswith("x-")]
            path += tuple(extra[:1])
        return line_of(lines, path) or 0, path, err

    ranked = sorted((where(e) for e in errors), key=lambda t: (t[0], len(t[1])))
    line, path, err = ranked[0]
    msg, hint = _message(err)
    raise ComposeError(msg, file, path, line or None, hint)
