"""A small Docker Engine API client (versions 1.24 to 1.52) over a unix socket.

It negotiates the version as the docker CLI does: $BOXNET_API_VERSION (or the
`version` argument) pins it; otherwise the first request is preceded by a
`HEAD /_ping` (then `GET` if HEAD fails) and the client speaks the lower of
its own highest version and the server's `Api-Version` header (1.24 when a
server sends none); a ping that fails leaves the client's highest.

Only the stdlib: whole-body calls (`call`, `get`, `post`, `delete`, the ping) over
kept-alive HTTP/1.1 connections (client/http11.py); http.client (imported on first
use: ~25 ms of start-up) for streaming requests; a raw socket for the hijacked
streams (attach, exec start) that Docker upgrades with `101 UPGRADED`.
"""

from __future__ import annotations

import json
import os
import urllib.parse

from . import http11
from .errors import APIError, ConnectError

TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing (~3 ms of start-up)
if TYPE_CHECKING:
    import http.client
    import socket
    from typing import Any, Callable, Iterator

API_VERSION = "1.52"        # the highest version this client speaks
FALLBACK_API_VERSION = "1.24"   # a server whose ping names no version (docker's fallback)
API_PREFIX = "/v" + API_VERSION
DEFAULT_HOST = "unix:///run/boxnet/boxnet.sock"
# Set by the CLI's -D / --log-level debug: called with one line per request (else None, so
# a request costs nothing for it).
TRACE: "Callable[[str], None] | None" = None


def resolve_host(host: str | None) -> str:
    """Return the daemon address: -H flag, else $BOXNET_HOST, else the default."""
    return host or os.environ.get("BOXNET_HOST") or DEFAULT_HOST


_UNIX_CONNECTION = None


def _unix_connection(path: str, timeout: float | None = None):
    """An http.client connection that dials a unix socket instead of TCP (the class is
    made on first use, so plain calls never import http.client)."""
    global _UNIX_CONNECTION
    if _UNIX_CONNECTION is None:
        import http.client
        import socket

        class _UnixConnection(http.client.HTTPConnection):
            """An HTTPConnection that dials a unix socket instead of TCP."""

            def __init__(self, path: str, timeout: float | None = None):
                super().__init__("localhost", timeout=timeout)
                self._path = path

            def connect(self) -> None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                if self.timeout is not None:
                    sock.settimeout(self.timeout)
                sock.connect(self._path)
                self.sock = sock

        _UNIX_CONNECTION = _UnixConnection
    return _UNIX_CONNECTION(path, timeout)


def _reason(status: int) -> str:
    """The standard reason phrase of a status ('' when unknown)."""
    from http import HTTPStatus   # only on an error without a body
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _error_message(status: int, body: bytes) -> str:
    """Extract Docker's {"message": ...} from an error body, else the raw text."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "message" in data:
            return str(data["message"])
    except ValueError:
        pass
    text = body.decode("utf-8", "replace").strip()
    return text or f"{status} {_reason(status)}".strip()


def encode_filters(filters: list[str] | None) -> str | None:
    """Turn ["k=v", ...] into Docker's filters JSON ({"k": {"v": true}})."""
    if not filters:
        return None
    out: dict[str, dict[str, bool]] = {}
    for f in filters:
        if "=" not in f:
            raise ValueError(f'bad format of filter (expected name=value): {f}')
        k, v = f.split("=", 1)
        out.setdefault(k.strip().lower(), {})[v] = True
    return json.dumps(out, separators=(",", ":"))


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in v.split("."))


def negotiated(server: str | None) -> str:
    """The version to speak with a server whose ping said `server` (docker's rule)."""
    if not server:
        return FALLBACK_API_VERSION
    return server if _vtuple(server) < _vtuple(API_VERSION) else API_VERSION


class Client:
    """Docker Engine API client bound to one unix socket address."""

    def __init__(self, host: str | None = None, version: str | None = None):
        self.host = resolve_host(host)
        if not self.host.startswith("unix://"):
            raise ConnectError(f"unsupported host {self.host!r}: only unix:// is supported")
        self.path = self.host[len("unix://"):]
        self._version = version or os.environ.get("BOXNET_API_VERSION") or None
        self._pool = http11.Pool(self.path)

    @property
    def api_version(self) -> str:
        """The API version requests use (negotiated on first use unless pinned)."""
        if self._version is None:
            self._version = self._negotiate()
        return self._version

    def _negotiate(self) -> str:
        for method in ("HEAD", "GET"):
            try:
                resp = self._pool.exchange(method, "/_ping", timeout=30)
            except (FileNotFoundError, ConnectionRefusedError, PermissionError) as e:
                raise self._cannot_connect() from e
            except OSError:
                return API_VERSION
            if resp.status == 200:
                return negotiated(resp.getheader("Api-Version"))
        return API_VERSION   # the ping failed: docker keeps its own version

    def _url(self, path: str, query: dict | None) -> str:
        url = "/v" + self.api_version + path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            q = {k: (("1" if v else "0") if isinstance(v, bool) else v) for k, v in q.items()}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        return url

    def _cannot_connect(self) -> ConnectError:
        return ConnectError(f"Cannot connect to the boxnet daemon at {self.host}. "
                            "Is the boxnet daemon running?")

    def request(self, method: str, path: str, query: dict | None = None,
                body: Any = None, headers: dict | None = None) -> http.client.HTTPResponse:
        """Send a request; return the open response (status < 400) or raise APIError.

        `body` is JSON-encoded unless it is bytes or a file object (streamed).
        """
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, bytearray)) \
                and not hasattr(body, "read"):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        chunked = hasattr(body, "read") and "Content-Length" not in hdrs
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        conn = _unix_connection(self.path)
        url = self._url(path, query)
        try:
            conn.request(method, url, body=body, headers=hdrs, encode_chunked=chunked)
            resp = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as e:
            raise self._cannot_connect() from e
        if TRACE is not None:
            TRACE(f"{method} {url} -> {resp.status}")
        if resp.status >= 400:
            data = resp.read()
            conn.close()
            raise APIError(resp.status, _error_message(resp.status, data))
        return resp

    def call(self, method: str, path: str, query: dict | None = None,
             body: Any = None, headers: dict | None = None) -> Any:
        """Send a request and decode its JSON answer (None for an empty body).

        The whole answer is read over a kept-alive connection (client/http11.py); a
        file-object body is streamed by `request` instead.
        """
        if hasattr(body, "read"):
            resp = self.request(method, path, query, body, headers)
            data = resp.read()
            resp.close()
        else:
            data = self._exchange(method, path, query, body, headers)
        if not data.strip():
            return None
        return json.loads(data)

    def _exchange(self, method: str, path: str, query: dict | None, body: Any,
                  headers: dict | None) -> bytes:
        """One whole-body request on the pool; the body of a status < 400, else APIError."""
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        url = self._url(path, query)
        try:
            resp = self._pool.exchange(method, url, hdrs, None if body is None else bytes(body))
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as e:
            raise self._cannot_connect() from e
        if TRACE is not None:
            TRACE(f"{method} {url} -> {resp.status}")
        if resp.status >= 400:
            raise APIError(resp.status, _error_message(resp.status, resp.body))
        return resp.body

    def get(self, path: str, **query: Any) -> Any:
        """GET path and decode the JSON answer."""
        return self.call("GET", path, query or None)

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        """POST path (JSON body) and decode the JSON answer."""
        return self.call("POST", path, query or None, body)

    def delete(self, path: str, **query: Any) -> Any:
        """DELETE path."""
        return self.call("DELETE", path, query or None)

    def hijack(self, method: str, path: str, query: dict | None = None,
               body: Any = None) -> "HijackedStream":
        """Open an upgraded (101) or plain streaming connection, as Docker's attach/exec.

        Docker's daemon answers `101 UPGRADED` when asked with `Upgrade: tcp`; a
        server that answers 200 and streams until EOF is accepted as well.
        """
        payload = b"" if body is None else json.dumps(body).encode()
        req = (f"{method} {self._url(path, query)} HTTP/1.1\r\nHost: localhost\r\n"
               "Connection: Upgrade\r\nUpgrade: tcp\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        import socket   # hijacked streams only (its import costs start-up)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as e:
            sock.close()
            raise self._cannot_connect() from e
        sock.sendall(req.encode() + payload)
        return HijackedStream(sock)


class HijackedStream:
    """The raw byte stream after the HTTP response head of a hijacked request."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, self._pending = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._left = int(self.headers.get("content-length", -1))
        if self.status >= 400 or self.status == 0:
            body = self.read_all()
            sock.close()
            raise APIError(self.status, _error_message(self.status, body))

    def _recv(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self.sock.recv(65536)

    def read_all(self) -> bytes:
        """Read everything left (honouring Content-Length when there is one)."""
        out = b"".join(self)
        return out

    def __iter__(self) -> Iterator[bytes]:
        if self._chunked:
            yield from self._iter_chunked()
            return
        while self._left != 0:
            data = self._recv()
            if not data:
                return
            if self._left > 0:
                data = data[:self._left]
                self._left -= len(data)
            yield data

    def _iter_chunked(self) -> Iterator[bytes]:
        buf = b""
        while True:
            while b"\r\n" not in buf:
                data = self._recv()
                if not data:
                    return
                buf += data
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                return
            while len(buf) < size + 2:
                data = self._recv()
                if not data:
                    yield buf[:size]
                    return
                buf += data
            yield buf[:size]
            buf = buf[size + 2:]

    def close_write(self) -> None:
        """Half-close: tell the daemon stdin is finished."""
        import socket   # already loaded: hijack made this socket
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()
