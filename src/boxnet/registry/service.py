"""The daemon's registry side: pull, push, login and blob garbage collection,
over one aiohttp client session.  The API routes call these; the controller
holds the service as its `registry` collaborator (daemon/main.py builds it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import AsyncIterator

import aiohttp

from boxnet.errors import InvalidParameter, NotFound
from boxnet.registry import manifest as mf
from boxnet.registry.auth import Credentials, credentials_from, decode_auth_header
from boxnet.registry.blobs import BlobStore
from boxnet.registry.client import RepoClient
from boxnet.registry.errors import RegistryError, Unauthorized
from boxnet.registry.options import RegistryOptions
from boxnet.registry.pull import Pull, resolve
from boxnet.registry.reference import DEFAULT_DOMAIN, Reference, parse, registry_host
from boxnet.registry.snapshots import Snapshots, chain_ids
from boxnet.runtime.images import ImageStore

log = logging.getLogger(__name__)


class RegistryService:
    """Pulls, pushes and logins of one daemon (see the module docstring)."""

    def __init__(self, data_root: str, images: ImageStore, options: RegistryOptions):
        """Open the blob store under `data_root`; the HTTP session is made at first use."""
        self.images, self.options = images, options
        self.blobs = BlobStore(data_root)
        self.snapshots = Snapshots(data_root)
        self._session: aiohttp.ClientSession | None = None
        self._pins: list[set[str]] = []     # blobs of pulls and pushes in flight (kept by gc)

    def session(self) -> aiohttp.ClientSession:
        """The shared client session (connection reuse across requests)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=16, enable_cleanup_closed=True),
                auto_decompress=False, trust_env=False)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (daemon shutdown)."""
        if self._session is not None:
            await self._session.close()

    def client(self, ref: Reference, creds: Credentials, actions=("pull",),
               host: str = "") -> RepoClient:
        """A RepoClient for the reference's repository."""
        return RepoClient(self.session(), self.options, host or registry_host(ref.domain),
                          ref.path, creds, actions)

    @contextlib.asynccontextmanager
    async def pinned(self):
        """A set of digests gc keeps while the block runs."""
        pins: set[str] = set()
        self._pins.append(pins)
        try:
            yield pins
        finally:
            self._pins.remove(pins)

    async def pull(self, from_image: str, tag: str, platform: str,
                   auth_header: str | None) -> AsyncIterator[dict]:
        """`POST /images/create?fromImage=`: an async generator whose first
        step resolves the manifest (errors raised before any message: the
        route answers them with their HTTP status), then Docker's progress.
        No tag in either fromImage or tag= is `docker pull --all-tags`: every
        tag the registry lists for the repository, one after the other."""
        ref = parse(from_image, tag)
        plat = mf.parse_platform(platform) if platform else None
        creds = decode_auth_header(auth_header)
        bare = parse(from_image, tag, default_tag=False)
        tags = [ref.tag] if bare.tag or bare.digest else await self._tags(bare, creds)
        async with self.pinned() as pins:
            for n, t in enumerate(tags):
                one = Reference(ref.domain, ref.path, t, ref.digest)
                p = await self._resolve(one, creds, plat, pins)
                if n == 0:
                    yield {}                      # resolved: the route starts the stream
                async for msg in p.run():
                    yield msg

    async def _tags(self, ref: Reference, creds: Credentials) -> list[str]:
        """The repository's tags (GET /v2/<name>/tags/list), sorted."""
        client = self.client(ref, creds)
        async with client.request("GET", f"/v2/{ref.path}/tags/list") as r:
            await client.check_status(r, f"repository {ref.familiar}")
            try:
                tags = (await r.json(content_type=None)).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{ref.familiar}: the tag list is not JSON") from None
        tags = sorted(t for t in tags if isinstance(t, str))
        if not tags:
            raise NotFound(f"repository {ref.familiar} has no tags")
        return [parse(ref.familiar, t).tag for t in tags]

    async def _resolve(self, ref: Reference, creds: Credentials, plat, pins) -> Pull:
        if ref.domain == DEFAULT_DOMAIN and self.options.mirrors:
            for mirror in self.options.mirrors:
                c = self.client(ref, creds)
                c.base = mirror
                try:
                    return await resolve(ref, c, self.images, self.blobs, plat, pins, self.snapshots)
                except (RegistryError, NotFound) as e:
                    log.info("mirror %s: %s; trying the next source", mirror, e)
        return await resolve(ref, self.client(ref, creds), self.images, self.blobs, plat, pins,
                             self.snapshots)

    async def login(self, body: dict) -> dict:
        """`POST /auth`: check credentials against the registry's /v2/;
        Docker's AuthResponse, or Unauthorized in Docker's words."""
        server = str(body.get("serveraddress") or "")
        creds = credentials_from(body)
        if not creds.username and not creds.identity_token:
            raise InvalidParameter("no username given for docker login")
        host = server.split("://", 1)[-1].split("/", 1)[0] or "docker.io"
        if host in ("docker.io", "index.docker.io"):
            host = registry_host(DEFAULT_DOMAIN)
        client = RepoClient(self.session(), self.options, host, "", creds, ())
        try:
            async with client.request("GET", "/v2/") as r:
                await r.read()
                if r.status != 200:
                    raise RegistryError(f"login attempt to {client.url('/v2/')} failed with "
                                        f"status: {r.status} {r.reason}")
        except Unauthorized:
            raise Unauthorized(f"login attempt to {client.url('/v2/')} failed with status: "
                               f"401 Unauthorized") from None
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    async def push(self, name: str, tag: str, auth_header: str | None) -> AsyncIterator[dict]:
        """`POST /images/{name}/push`: progress messages (see push.py).  No
        tag at all (`docker push NAME`): every local tag of NAME, as Docker."""
        from boxnet.registry.push import push
        bare = parse(name, tag, default_tag=False)
        if bare.digest:
            raise InvalidParameter(f"cannot push a digest reference: {bare}")
        if bare.tag:
            refs = [bare]
        else:
            refs = [parse(t) for img in self.images.list() for t in img.repo_tags
                    if t.rsplit(":", 1)[0] == bare.familiar]
            if not refs:
                raise NotFound(f"An image does not exist locally with the tag: {bare.familiar}")
        imgs = [self.images.get(r.local_tag) for r in refs]     # 404 before the stream
        creds = decode_auth_header(auth_header)
        client = self.client(refs[0], creds, ("pull", "push"))
        async with self.pinned():
            for ref, img in sorted(zip(refs, imgs), key=lambda x: x[0].tag):
                async for msg in push(ref, img, client, self.images, self.blobs):
                    yield msg

    def gc(self) -> list[str]:
        """Remove blobs no stored image (or pull in flight) refers to, and
        snapshots of layer chains no stored image has (pulls in flight pin
        their blobs and chains)."""
        used: set[str] = set().union(*self._pins) if self._pins else set()
        chains: set[str] = set(used)
        for img in self.images.list():
            used.update(img.blobs)
            chains.update(chain_ids(_diff_ids(self.images.image_dir(img.id))))
        self.snapshots.gc(chains)
        return self.blobs.gc(used)


def _diff_ids(image_dir: str) -> list[str]:
    try:
        with open(os.path.join(image_dir, "config.json"), "rb") as f:
            ids = json.loads(f.read()).get("rootfs", {}).get("diff_ids", [])
        return [x for x in ids if isinstance(x, str)]
    except (OSError, ValueError, AttributeError):
        return []


async def drain(gen: AsyncIterator[dict]) -> None:
    """Consume a progress generator (for callers that want only the result)."""
    async for _ in gen:
        await asyncio.sleep(0)
