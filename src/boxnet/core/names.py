"""Names and ids: Docker's validation rules, id generation, lookups by prefix."""

from __future__ import annotations

import re
import secrets
from typing import TypeVar

from ..errors import InvalidParameter, NotFound

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
T = TypeVar("T")


def new_id() -> str:
    """A 64-hex-digit id, like Docker's."""
    return secrets.token_hex(32)


def validate_name(name: str, what: str) -> str:
    """Check a network or container name against Docker's rule; strip a leading '/'."""
    if not NAME_RE.match(name):
        raise InvalidParameter(
            f"Invalid {what} name ({name!r}), only [a-zA-Z0-9][a-zA-Z0-9_.-]+ are allowed"
            " (at least two characters)")
    return name.lstrip("/")


def validate_network_name(name: str) -> str:
    """Docker's rule for a network name, which is not the container rule:
    libnetwork's NewNetwork refuses only a name that is empty or blank
    (ErrInvalidName: "invalid name: ..."), so `test 01`, `a/b` or `n@me` are
    network names; the name is kept as given."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"invalid name: {name}")
    return name


def lookup(by_id: dict[str, T], ref: str, what: str, by_name: dict[str, T]) -> T:
    """Find by exact name, full id, or unique id prefix, as Docker does
    (an exact name wins over an id prefix that happens to match)."""
    ref = ref.lstrip("/") if what == "container" else ref
    hit = by_name.get(ref) or by_id.get(ref)
    if hit is not None:
        return hit
    if ref:
        matches = [o for o in by_id.values() if o.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameter(f"{what} {ref} is ambiguous ({len(matches)} matches found)")
    if what == "network":
        raise NotFound(f"network {ref} not found")
    raise NotFound(f"No such {what}: {ref}")
