"""Image references as Docker's reference grammar (distribution/reference)
parses and normalises them.  Pure: no I/O.

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [domain "/"] path-component ["/" path-component]*
    domain    := host [":" port]   (a first part with "." or ":", or "localhost")

Normalisation as Docker: no domain -> docker.io; a one-part name on docker.io
gets "library/"; index.docker.io is docker.io; no tag and no digest -> latest.
The familiar name (what `docker images` shows and the image store keys tags
by) drops "docker.io/" and "library/" again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from boxnet.errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REF = re.compile(rf"^((?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::({_TAG}))?"
                  rf"(?:@({_DIGEST}))?$")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: domain, repository path, tag and/or digest."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The full name: domain/path."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar(self) -> str:
        """The name as Docker shows it (docker.io/library/x -> x)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        return self.path[len("library/"):] if self.path.startswith("library/") else self.path

    @property
    def local_tag(self) -> str:
        """familiar:tag, the image store's name for this reference ("" when by digest only)."""
        return f"{self.familiar}:{self.tag}" if self.tag else ""

    @property
    def ref(self) -> str:
        """The tag or digest to ask the registry's /manifests/ for."""
        return self.digest or self.tag

    def __str__(self) -> str:
        s = self.familiar
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"
                   and first.lower() == first):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain = first
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = "library/" + rest
    return domain, rest


def parse(s: str, tag: str = "", default_tag: bool = True) -> Reference:
    """Parse and normalise `s` (with an optional separate `tag`, as
    /images/create's fromImage + tag): InvalidParameter in Docker's words."""
    if tag:
        s = f"{s}@{tag}" if ":" in tag else f"{s}:{tag}"
    m = _REF.match(s)
    if not m:
        if s and _REF.match(s.lower()):
            raise InvalidParameter(f"invalid reference format: repository name ({s}) "
                                   f"must be lowercase")
        raise InvalidParameter(f"invalid reference format: {s!r}")
    name, t, digest = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_MAX:
        raise InvalidParameter(f"invalid reference format: repository name must not be more "
                               f"than {NAME_MAX} characters")
    if digest and not _SHA256.match(digest):
        raise InvalidParameter(f"invalid reference format: unsupported digest {digest!r} "
                               f"(sha256:<64 hex digits> expected)")
    domain, path = _split_domain(name)
    if not t and not digest and default_tag:
        t = DEFAULT_TAG
    return Reference(domain, path, t, digest)


def registry_host(domain: str) -> str:
    """The host:port to talk to for a domain (docker.io is served by registry-1.docker.io)."""
    return "registry-1.docker.io" if domain == DEFAULT_DOMAIN else domain
