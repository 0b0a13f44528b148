"""A small asyncio etcd v3 client over etcd's JSON gRPC-gateway (aiohttp).

Why not aetcd (DESIGN.md's first pick): aetcd 1.0.0 installs and works here
(grpcio 1.85, protobuf 7, checked against Debian's etcd 3.4.23), but it pulls
~10 MB of native grpc code for six calls, and grpc's own reconnect backoff
hides *when* the store is unreachable.  etcd 3.4 serves the same v3 API as
JSON on its client port (/v3/kv/range, /v3/kv/txn, /v3/watch, /v3/lease/...),
and aiohttp is already a dependency: every request here has an explicit
timeout, so an unreachable store is an ``Unavailable`` (HTTP 503) within
``timeout`` seconds, and fail-over between cluster members is ours.

Keys and values are ``str``/``bytes`` at this API; base64 stays inside.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from typing import AsyncIterator

import aiohttp
import msgspec

from ..errors import InvalidParameter, Unavailable
from .etcd_tls import TlsFiles, client_context, explain, explain_gateway

log = logging.getLogger(__name__)

#: how long a request waits out a leader election before failing (seconds)
ELECTION_WAIT = 6.0
#: what etcd members answer while the cluster has no leader
ELECTION_SIGNS = ("leader changed", "no leader")


def _b64(v: str | bytes) -> str:
    return base64.b64encode(v.encode() if isinstance(v, str) else v).decode()


def _unb64(v: str | None) -> bytes:
    return base64.b64decode(v) if v else b""


def prefix_end(prefix: str) -> str:
    """The range_end that selects every key starting with ``prefix``."""
    b = bytearray(prefix.encode())
    b[-1] += 1
    return bytes(b).decode()


class KV(msgspec.Struct, frozen=True):
    """One key-value pair as read from etcd."""

    key: str
    value: bytes
    mod_revision: int = 0
    lease: int = 0


class Event(msgspec.Struct, frozen=True):
    """One watch event: 'put' or 'delete' (prev is the value before, if any)."""

    type: str
    kv: KV
    prev: KV | None = None


def _kv(d: dict) -> KV:
    return KV(key=_unb64(d.get("key")).decode(), value=_unb64(d.get("value")),
              mod_revision=int(d.get("mod_revision", 0)), lease=int(d.get("lease", 0)))


def cmp_exists(key: str) -> dict:
    """A transaction compare that holds when ``key`` exists."""
    return {"key": _b64(key), "target": "CREATE", "result": "GREATER", "create_revision": "0"}


def cmp_range_empty(prefix: str) -> dict:
    """A compare that holds when no key exists under ``prefix`` (etcd compares
    every key of the range; an empty range compares as create_revision 0)."""
    return {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix)),
            "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def op_delete(key: str, prefix: bool = False) -> dict:
    """A transaction operation deleting ``key`` (or every key under it)."""
    op = {"key": _b64(key)}
    if prefix:
        op["range_end"] = _b64(prefix_end(key))
    return {"request_delete_range": op}


def parse_store_url(url: str) -> list[str]:
    """``etcd://H:P[,H:P...]`` -> ["H:P", ...]; InvalidParameter otherwise."""
    if not url.startswith("etcd://") or len(url) <= len("etcd://"):
        raise InvalidParameter(f"--cluster-store {url}: expected etcd://HOST:PORT[,HOST:PORT...]")
    out = []
    for hp in url[len("etcd://"):].rstrip("/").split(","):
        host, _, port = hp.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidParameter(f"--cluster-store {url}: {hp!r} is not HOST:PORT")
        out.append(hp)
    return out


class EtcdClient:
    """Talks to one etcd cluster; tries members in order, sticks to one that answers."""

    def __init__(self, url: str, cafile: str = "", certfile: str = "", keyfile: str = "",
                 timeout: float = 3.0):
        self.url = url
        self._members = parse_store_url(url)
        # etcd:// plus any kv.* TLS option means https to every member (as Docker's libkv)
        self.tls = TlsFiles(cafile, certfile, keyfile)
        self._scheme = "https" if self.tls.enabled else "http"
        self._ssl: ssl.SSLContext | bool = client_context(self.tls) if self.tls.enabled else False
        self.timeout = timeout
        self._cur = 0
        self._ok_once = False   # a request succeeded (dropped connections are not TLS then)
        self._session: aiohttp.ClientSession | None = None
        #: set when etcd says a lease we used is gone (the lease holder re-grants)
        self.lease_lost = asyncio.Event()

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(json_serialize=json.dumps)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    async def _post(self, path: str, body: dict, timeout: float | None = None) -> dict:
        """POST to the current member, failing over to the others; Unavailable if none answers.

        A cluster that is electing a leader (a member said "leader changed" or
        "no leader", as after the leader's loss) is asked again, round after
        round, for up to ELECTION_WAIT seconds: an election takes about etcd's
        election timeout (1 s by default) and, unlike a store that is down, is
        over soon.  A store nobody answers for fails at once, as before.
        """
        deadline = asyncio.get_running_loop().time() + ELECTION_WAIT
        pause = 0.1
        while True:
            electing, result = await self._post_round(path, body, timeout)
            if not electing or asyncio.get_running_loop().time() + pause > deadline:
                if isinstance(result, Exception):
                    raise result
                return result
            log.info("cluster store %s is electing a leader: %s asked again in %.1f s",
                     self.url, path, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _post_round(self, path: str, body: dict, timeout: float | None):
        """One try of every member: (a member said the cluster is electing, data or error)."""
        errors: list[str] = []
        electing = False
        tls_errors: list[str] = []
        n = len(self._members)
        for i in range(n):
            member = self._members[(self._cur + i) % n]
            try:
                async with self._sess().post(
                        f"{self._scheme}://{member}{path}", json=body, ssl=self._ssl,
                        timeout=aiohttp.ClientTimeout(total=timeout or self.timeout)) as r:
                    data = await r.json(content_type=None)
                    if r.status != 200:
                        msg = data.get("error") or data.get("message") or str(data)
                        sign = any(w in msg for w in ELECTION_SIGNS)
                        if sign or r.status == 503 or "timed out" in msg:
                            electing = electing or sign
                            errors.append(f"{member}: {explain_gateway(msg, self.tls)}")
                            continue
                        if "lease not found" in msg:
                            self.lease_lost.set()
                            return False, Unavailable(f"cluster store {self.url}: this host's "
                                                      f"lease expired; it is re-registering, "
                                                      f"try again")
                        return False, Unavailable(f"cluster store {self.url}: {path}: {msg}")
                    self._cur = (self._cur + i) % n
                    self._ok_once = True
                    return False, data
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
                why = explain(e, member, self.tls, never_ok=not self._ok_once)
                if why and why.startswith("TLS"):
                    tls_errors.append(why)
                errors.append(why or f"{member}: {type(e).__name__} {e}".strip())
        if tls_errors and len(tls_errors) == len(errors):  # reachable, but TLS failed
            return False, Unavailable(f"cluster store {self.url}: {'; '.join(tls_errors)}")
        return electing, Unavailable(f"cluster store {self.url} is unreachable "
                                     f"({'; '.join(errors)}); global (overlay) operations need it")

    # ---- kv ----------------------------------------------------------
    async def get(self, key: str) -> KV | None:
        """One key, or None."""
        kvs, _ = await self.get_prefix(key, exact=True)
        return kvs[0] if kvs else None

    async def get_prefix(self, prefix: str, exact: bool = False) -> tuple[list[KV], int]:
        """Every key under ``prefix`` and the store revision of the read."""
        body = {"key": _b64(prefix)}
        if not exact:
            body["range_end"] = _b64(prefix_end(prefix))
        d = await self._post("/v3/kv/range", body)
        return [_kv(k) for k in d.get("kvs", [])], int(d["header"]["revision"])

    async def put(self, key: str, value: bytes | str, lease: int = 0) -> None:
        """Set one key (attached to ``lease`` if non-zero)."""
        body = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        await self._post("/v3/kv/put", body)

    async def delete(self, key: str, prefix: bool = False) -> int:
        """Delete one key (or every key under it); return how many went."""
        body = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _b64(prefix_end(key))
        d = await self._post("/v3/kv/deleterange", body)
        return int(d.get("deleted", 0))

    async def create_all(self, puts: dict[str, bytes | str], lease: int = 0,
                         also: dict[str, bytes | str] | None = None,
                         expect: dict[str, int] | None = None) -> bool:
        """Atomically create every key of ``puts`` (on ``lease``) if none exists yet
        and every key of ``expect`` still has the given mod_revision (0: absent),
        and set the keys of ``also`` (no lease); False, changing nothing, otherwise."""
        compare = [{"key": _b64(k), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
                   for k in puts]
        compare += [{"key": _b64(k), "target": "MOD", "result": "EQUAL", "mod_revision": str(rev)}
                    for k, rev in (expect or {}).items()]
        ops = []
        for k, v in puts.items():
            op = {"key": _b64(k), "value": _b64(v)}
            if lease:
                op["lease"] = str(lease)
            ops.append({"request_put": op})
        ops += [{"request_put": {"key": _b64(k), "value": _b64(v)}} for k, v in (also or {}).items()]
        d = await self._post("/v3/kv/txn", {"compare": compare, "success": ops})
        return bool(d.get("succeeded"))

    async def txn(self, compare: list[dict], success: list[dict]) -> bool:
        """One transaction of etcd's JSON form (see cmp_range_empty, op_delete);
        True if the compares held and ``success`` was applied."""
        d = await self._post("/v3/kv/txn", {"compare": compare, "success": success})
        return bool(d.get("succeeded"))

    async def delete_all(self, keys: list[str], prefixes: list[str] = ()) -> None:
        """Delete ``keys`` and every key under ``prefixes`` in one transaction."""
        ops = [{"request_delete_range": {"key": _b64(k)}} for k in keys]
        ops += [{"request_delete_range": {"key": _b64(p), "range_end": _b64(prefix_end(p))}}
                for p in prefixes]
        await self._post("/v3/kv/txn", {"compare": [], "success": ops})

    # ---- leases ------------------------------------------------------
    async def lease_grant(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; its id."""
        d = await self._post("/v3/lease/grant", {"TTL": str(ttl)})
        return int(d["ID"])

    async def lease_keepalive(self, lease: int) -> int:
        """Refresh a lease; its remaining TTL (0 or less: the lease is gone)."""
        d = await self._post("/v3/lease/keepalive", {"ID": str(lease)})
        return int(d.get("result", {}).get("TTL", 0))

    # ---- watch -------------------------------------------------------
    async def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[list[Event]]:
        """Yield batches of events under ``prefix`` from ``start_revision`` on.

        Ends by raising Unavailable when the stream breaks (or when the
        revision was compacted): the caller re-reads and watches again.
        """
        body = {"create_request": {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix)),
                                   "start_revision": str(start_revision), "prev_kv": True,
                                   "progress_notify": True}}
        member = self._members[self._cur]
        url = f"{self._scheme}://{member}/v3/watch"
        try:
            async with self._sess().post(url, json=body, ssl=self._ssl, timeout=aiohttp.ClientTimeout(
                    total=None, connect=self.timeout, sock_read=None)) as r:
                if r.status != 200:
                    raise Unavailable(f"watch on {member}: HTTP {r.status}")
                dec = json.JSONDecoder()
                buf = ""
                async for chunk in r.content.iter_any():
                    buf += chunk.decode()
                    while True:
                        buf = buf.lstrip()
                        if not buf:
                            break
                        try:
                            obj, end = dec.raw_decode(buf)
                        except ValueError:
                            break
                        buf = buf[end:]
                        res = obj.get("result") or {}
                        if "error" in obj:
                            raise Unavailable(f"watch on {member}: {obj['error']}")
                        if int(res.get("compact_revision", 0) or 0):
                            raise Unavailable(f"watch on {member}: revision compacted")
                        if res.get("canceled"):
                            raise Unavailable(f"watch on {member} canceled")
                        evs = [Event(type="delete" if e.get("type") == "DELETE" else "put",
                                     kv=_kv(e["kv"]),
                                     prev=_kv(e["prev_kv"]) if e.get("prev_kv") else None)
                               for e in res.get("events", [])]
                        if evs:
                            yield evs
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            self._cur = (self._cur + 1) % len(self._members)
            raise Unavailable(f"watch on {member} broke: {type(e).__name__} {e}") from None
        self._cur = (self._cur + 1) % len(self._members)
        raise Unavailable(f"watch on {member} ended")
