"""SHA-256 for compose's hashes (config-hash labels, the caches' keys) from the builtin
``_sha256`` module: the same digests as hashlib's, without hashlib loading OpenSSL's
libcrypto (~2 ms of every `boxnet compose` start on a loaded machine)."""

from __future__ import annotations

try:
    from _sha256 import sha256
except ImportError:   # a Python built without it
    from hashlib import sha256  # noqa: F401

__all__ = ["sha256"]
