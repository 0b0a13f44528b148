"""Volume names: Docker's rule and anonymous names."""

from __future__ import annotations

import re
import secrets

from ..errors import InvalidParameter

# moby volume/local: validName
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ANONYMOUS_LABEL = "com.docker.volume.anonymous"   # as dockerd (23.0+) marks them


def validate_name(name: str) -> str:
    """`name` when it is a valid volume name, InvalidParameter (400) otherwise."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidParameter(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            f'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            f'directory, use absolute path')
    return name


def anonymous_name() -> str:
    """A new anonymous volume's name: 64 hex digits, as Docker's."""
    return secrets.token_hex(32)
