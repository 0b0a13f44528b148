"""An HTTP client of one repository on one registry (OCI distribution spec /
Docker registry v2) on aiohttp.

Transport: HTTPS verified with options.py's context; an insecure registry is
tried over HTTPS first and then plain HTTP, as dockerd does.  Auth: the first
request goes out anonymous (or with the token we hold); a 401 carries the
registry's `WWW-Authenticate` challenge: Basic gets the user's credentials,
Bearer a token from the challenge's realm for `repository:<repo>:<actions>`
(fetched with the credentials when there are some, or by an OAuth2 refresh
POST when the client holds an identity token; refreshed when it expires or a
request is refused again).  Errors are turned into Docker's words.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator
from urllib.parse import urlsplit

import aiohttp

from boxnet.errors import NotFound
from boxnet.registry.auth import Credentials, parse_challenge, token_scope
from boxnet.registry.errors import RegistryError, Unauthorized
from boxnet.registry.options import RegistryOptions

TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15, sock_read=30)


def registry_errors(status: int, body: bytes) -> str:
    """The registry's error body as Docker prints it ("code: message")."""
    try:
        errs = json.loads(body).get("errors") or []
        return "; ".join(f"{str(e.get('code', '')).lower().replace('_', ' ')}: "
                         f"{e.get('message', '')}" for e in errs if isinstance(e, dict)) \
            or f"HTTP {status}"
    except (ValueError, AttributeError):
        return f"HTTP {status}"


class RepoClient:
    """Requests on `<host>/v2/<repo>/...` with authentication handled."""

    def __init__(self, session: aiohttp.ClientSession, options: RegistryOptions, host: str,
                 repo: str, creds: Credentials, actions: tuple[str, ...] = ("pull",)):
        """`host`: host[:port] as in the reference; `repo`: the repository path."""
        self.session, self.options, self.host, self.repo = session, options, host, repo
        self.creds, self.actions = creds, actions
        self.base = ""
        self._auth = ""                   # Authorization header value
        self._expires = float("inf")
        self._challenge: tuple[str, dict[str, str]] | None = None
        self._ssl = options.ssl_context(host)
        self._lock = asyncio.Lock()

    def url(self, path: str) -> str:
        """The absolute URL of a /v2/ path."""
        return self.base + path

    async def _pick_base(self) -> None:
        if self.base:
            return
        schemes = ["https", "http"] if self.options.is_insecure(self.host) else ["https"]
        last: Exception | None = None
        for scheme in schemes:
            try:
                async with self.session.get(f"{scheme}://{self.host}/v2/", ssl=self._ssl,
                                            timeout=TIMEOUT, allow_redirects=False) as r:
                    await r.read()
                    if r.status == 401:
                        self._challenge = parse_challenge(r.headers.get("WWW-Authenticate", ""))
                    self.base = f"{scheme}://{self.host}"
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                last = e
        raise RegistryError(f"Get \"https://{self.host}/v2/\": {_reason(last)}")

    async def _authorize(self, challenge: tuple[str, dict[str, str]]) -> None:
        scheme, params = challenge
        c = self.creds
        if scheme == "basic":
            if c.identity_token and not c.username:
                raise Unauthorized(f"{self.host}: an identity token needs a bearer-token "
                                   f"registry; this one asks for basic auth")
            if not c.username:
                raise Unauthorized(f"Get \"{self.base}/v2/\": no basic auth credentials")
            self._auth = "Basic " + base64.b64encode(
                f"{c.username}:{c.password}".encode()).decode()
            return
        if scheme != "bearer" or not params.get("realm"):
            raise RegistryError(f"{self.host}: unsupported authentication challenge {scheme!r}")
        if c.registry_token:
            self._auth = "Bearer " + c.registry_token
            return
        query = {"scope": token_scope(self.repo, self.actions)} if self.repo else {}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {}
        method, form = "GET", None
        if c.identity_token:        # OAuth2 refresh token from a login (as Docker's client)
            method, form = "POST", {"grant_type": "refresh_token", "client_id": "boxnet",
                                    "refresh_token": c.identity_token, **query}
            query = {}
        elif c.username:
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{c.username}:{c.password}".encode()).decode()
        try:
            async with self.session.request(method, params["realm"], params=query, data=form,
                                            headers=headers, ssl=self._ssl,
                                            timeout=TIMEOUT) as r:
                body = await r.read()
                if r.status in (401, 403):
                    raise Unauthorized(f"Get \"{params['realm']}\": unauthorized: "
                                       f"{registry_errors(r.status, body)}")
                if r.status != 200:
                    raise RegistryError(f"token server {params['realm']} answered {r.status}")
                doc = json.loads(body)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            raise RegistryError(f"token server {params['realm']}: {_reason(e)}") from None
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token server {params['realm']} sent no token")
        self._auth = "Bearer " + token
        self._expires = time.monotonic() + max(int(doc.get("expires_in") or 60), 60) - 10

    @asynccontextmanager
    async def request(self, method: str, path: str, *, headers: dict | None = None,
                      data=None, absolute: bool = False,
                      allow_redirects: bool = True) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request with auth; a 401 is answered once with the challenge's
        credentials (a second 401 is Unauthorized).  `data` must be re-sendable
        (bytes) when the first try may be refused."""
        await self._pick_base()
        async with self._lock:
            if self._challenge and not self._auth:
                await self._authorize(self._challenge)
            if self._auth.startswith("Bearer") and time.monotonic() > self._expires:
                await self._authorize(self._challenge or ("bearer", {}))
        url = path if absolute else self.url(path)
        # Credentials go only to the registry itself: an upload Location naming
        # another origin gets none (a registry cannot send our password elsewhere).
        same_origin = urlsplit(url)[:2] == urlsplit(self.base)[:2]
        for attempt in (0, 1):
            h = dict(headers or {})
            if self._auth and same_origin:
                h["Authorization"] = self._auth
            try:
                resp = await self.session.request(method, url, headers=h, data=data,
                                                  ssl=self._ssl, timeout=TIMEOUT,
                                                  allow_redirects=allow_redirects)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                raise RegistryError(f"{method.title()} \"{url}\": {_reason(e)}") from None
            if resp.status == 401 and attempt == 0:
                challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
                resp.release()
                had = self._auth
                async with self._lock:
                    self._challenge = challenge
                    await self._authorize(challenge)
                if had and had == self._auth and not self._auth.startswith("Bearer"):
                    raise Unauthorized(f"{method.title()} \"{url}\": unauthorized: "
                                       f"authentication required")
                continue
            if resp.status == 401:
                body = await resp.read()
                resp.release()
                raise Unauthorized(f"{method.title()} \"{url}\": unauthorized: "
                                   f"{registry_errors(401, body)}")
            try:
                yield resp
            finally:
                resp.release()
            return

    async def check_status(self, resp: aiohttp.ClientResponse, what: str,
                           ok: tuple[int, ...] = (200,)) -> None:
        """Raise Docker's error for an unexpected answer."""
        if resp.status in ok:
            return
        body = await resp.read()
        msg = registry_errors(resp.status, body)
        if resp.status == 404:
            raise NotFound(f"{what} not found: {msg}")
        if resp.status == 403:
            raise Unauthorized(f"{what}: denied: {msg}")
        raise RegistryError(f"{what}: {msg}")


def _reason(e: BaseException | None) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "the registry did not answer in time (timeout)"
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"dial tcp {e.host}:{e.port}: {e.os_error.strerror or e.os_error}"
    return str(e) or type(e).__name__
