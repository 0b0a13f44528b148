"""Registry credentials and authentication challenges.  Pure: no I/O.

- `decode_auth_header`: the `X-Registry-Auth` header (base64url JSON of
  Docker's AuthConfig: username, password, auth, identitytoken,
  registrytoken, serveraddress); a malformed one is a 400, never ignored.
- `check_push_body`: a push without that header (anonymous, as moby master;
  credentials in the body are refused, not ignored).
- `parse_challenge`: a `WWW-Authenticate` header (RFC 7235: a scheme and
  key="value" parameters), as the registry answers a 401.
- `token_scope`: the bearer-token scope for a repository and actions.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from boxnet.errors import InvalidParameter


@dataclass(frozen=True)
class Credentials:
    """What the client gave us for one registry (all optional)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @property
    def empty(self) -> bool:
        """No credentials at all (anonymous)."""
        return not (self.username or self.password or self.identity_token
                    or self.registry_token)


def _b64(s: str) -> bytes:
    s = s.strip()
    s += "=" * (-len(s) % 4)
    try:
        return base64.urlsafe_b64decode(s.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError):
        raise InvalidParameter("invalid X-Registry-Auth header: not base64") from None


def credentials_from(doc: dict) -> Credentials:
    """Credentials from an AuthConfig object (the header's or /auth's body)."""
    if not isinstance(doc, dict):
        raise InvalidParameter("invalid registry credentials: expected a JSON object")
    user, pw = str(doc.get("username") or ""), str(doc.get("password") or "")
    if doc.get("auth") and not user:
        raw = _b64(str(doc["auth"])).decode(errors="replace")
        user, _, pw = raw.partition(":")
    return Credentials(user, pw, str(doc.get("identitytoken") or ""),
                       str(doc.get("registrytoken") or ""))


def decode_auth_header(value: str | None) -> Credentials:
    """The `X-Registry-Auth` header decoded ("" or absent: anonymous)."""
    if not value or not value.strip() or value.strip() == "{}":
        return Credentials()
    try:
        doc = json.loads(_b64(value))
    except ValueError:
        raise InvalidParameter("invalid X-Registry-Auth header: not base64-encoded "
                               "JSON") from None
    return credentials_from(doc)


def check_push_body(body: bytes) -> None:
    """The body of a `POST /images/{name}/push` sent WITHOUT X-Registry-Auth.

    dockerd up to 28.3 decoded it as an AuthConfig (API v1.4's form; an empty
    body was the 400 "bad parameters and missing X-Registry-Auth: ... EOF");
    moby master and 28.x since moby#50371/#50480 (2025) read no body and push
    anonymously, at every API version (the rule follows the daemon's version,
    not the request's, so api/compat/ has nothing for it). boxnet does as moby
    master: no header, an empty body or `{}` is anonymous (docker-py sends `{}`),
    and credentials in the body, which master would drop unread, are refused
    (400 naming X-Registry-Auth) rather than ignored, as is a body that is not
    an AuthConfig object."""
    text = body.strip()
    if not text:
        return
    try:
        doc = json.loads(text)
    except ValueError:
        raise InvalidParameter("bad parameters and missing X-Registry-Auth: the body of a "
                               "push is not a JSON AuthConfig object") from None
    if not isinstance(doc, dict):
        raise InvalidParameter("bad parameters and missing X-Registry-Auth: the body of a "
                               "push is not a JSON AuthConfig object")
    if not credentials_from(doc).empty:
        raise InvalidParameter("registry credentials in the body of a push are not read "
                               "(API v1.4's form, dropped by Docker): send them in the "
                               "X-Registry-Auth header")


_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """("basic"|"bearer"|..., {param: value}) of a WWW-Authenticate header."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        params[m.group(1).lower()] = (m.group(2).replace('\\"', '"') if m.group(2) is not None
                                      else m.group(3))
        pos = m.end()
    return scheme.lower(), params


def token_scope(repo: str, actions: tuple[str, ...]) -> str:
    """`repository:<repo>:pull[,push]`."""
    return f"repository:{repo}:{','.join(actions)}"
