"""HTTP/1.1 with kept-alive connections over a unix socket, for whole-body requests.

The Engine API client's plain calls (JSON in, JSON out: `Client.call`, `get`, `post`,
`delete` and the version ping) go through here: one connection per thread at a time,
reused for the next call, instead of a new connection and http.client per request.
`compose up` makes a dozen calls; http.client's import alone (email, ssl...) was ~25 ms
of a loaded `compose down`, and connect + response objects another ~0.3 ms a call.
Streaming requests (logs, pulls, uploads) keep using http.client (engine.Client.request).

Only the C `_socket` module is imported and `_thread` for
the lock of the idle list. A kept-alive connection is looked at before it is used: one
the daemon closed while it sat idle (aiohttp closes them after 75 s) is dropped and a
new one made, so the request is sent once. If a reused connection still fails before
any byte of answer, the request is sent again on a new connection when it never left
(the send failed) or is idempotent (GET, HEAD, PUT, DELETE, OPTIONS): Go's net/http
rule; a POST the daemon may have acted upon is not repeated, its failure is raised.
A fresh connection is never retried.
"""

from __future__ import annotations

import _socket
import _thread

NO_BODY_STATUS = (204, 304)
IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
MAX_HEAD = 64 * 1024   # status line + headers


class HTTPParseError(OSError):
    """The answer was not well-formed HTTP/1.x."""


class _Stale(Exception):
    """A reused connection was closed by the server before any byte of the answer
    (`written`: after the request was sent, so the server may have acted on it)."""

    def __init__(self, written: bool = True):
        super().__init__()
        self.written = written


class Response:
    """A complete answer: status, headers (lower-case names) and the whole body."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def getheader(self, name: str, default: str | None = None) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower(), default)


class _Conn:
    """One connected socket and the bytes read past the previous answer."""

    def __init__(self, path: str, timeout: float | None):
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect(path)
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.buf = b""

    def idle_and_open(self) -> bool:
        """Whether the idle connection is still open with nothing unread (a closed one
        reads EOF at once; one with bytes waiting is out of step): a peek that does
        not wait."""
        timeout = self.sock.gettimeout()
        try:
            self.sock.settimeout(0.0)
            try:
                self.sock.recv(1, _socket.MSG_PEEK)
            except BlockingIOError:   # nothing to read: open, and in step
                return not self.buf
            return False   # EOF (closed) or bytes nobody asked for
        except OSError:
            return False
        finally:
            try:
                self.sock.settimeout(timeout)
            except OSError:
                pass

    def _more(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise HTTPParseError("the daemon closed the connection mid-answer")
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise HTTPParseError("HTTP line too long")
            self.buf += self._more()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self._more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_head(self, reused: bool) -> tuple[int, str, dict[str, str]]:
        """Status, version and headers; raise _Stale when a reused socket is at EOF."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise HTTPParseError("HTTP head too long")
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                if reused and not self.buf:
                    raise _Stale() from None
                raise
            if not data:
                if reused and not self.buf:
                    raise _Stale()
                raise HTTPParseError("the daemon closed the connection before answering")
            self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit() \
                or len(parts[1]) != 3:
            raise HTTPParseError(f"not an HTTP answer: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if not sep:
                raise HTTPParseError(f"bad header line: {line[:80]!r}")
            k = k.strip().lower()
            v = v.strip()
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        return int(parts[1]), parts[0], headers

    def read_body(self, method: str, status: int, headers: dict[str, str]
                  ) -> tuple[bytes, bool]:
        """The body and whether the connection can carry another request."""
        if method == "HEAD" or status in NO_BODY_STATUS or 100 <= status < 200:
            return b"", True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            out = []
            while True:
                size_line = self._line().split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise HTTPParseError(f"bad chunk size {size_line[:20]!r}") from None
                if size == 0:
                    while self._line():   # trailers, up to the empty line
                        pass
                    return b"".join(out), True
                out.append(self._exactly(size))
                if self._exactly(2) != b"\r\n":
                    raise HTTPParseError("chunk not followed by CRLF")
        length = headers.get("content-length")
        if length is not None:
            if not length.isascii() or not length.isdigit():
                raise HTTPParseError(f"bad Content-Length {length[:20]!r}")
            return self._exactly(int(length)), True
        chunks = [self.buf]   # no length: the body runs to EOF
        self.buf = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                return b"".join(chunks), False
            chunks.append(data)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


class Pool:
    """Kept-alive connections to one unix socket, shared by the threads of a client."""

    def __init__(self, path: str, timeout: float | None = None):
        self.path = path
        self.timeout = timeout
        self._idle: list[_Conn] = []
        self._lock = _thread.allocate_lock()

    def _take(self) -> _Conn | None:
        """An idle connection still open, or None (closed ones are dropped)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.idle_and_open():
                return conn
            conn.close()

    def _give(self, conn: _Conn) -> None:
        with self._lock:
            self._idle.append(conn)

    def exchange(self, method: str, target: str, headers: dict[str, str] | None = None,
                 body: bytes | None = None, timeout: float | None = None) -> Response:
        """Send one request and read its whole answer (`timeout`: seconds for each
        socket operation of this request, else the pool's).

        Connection failures raise the OSError of connect (FileNotFoundError,
        ConnectionRefusedError, PermissionError: the caller words them); a bad
        answer raises HTTPParseError.
        """
        hdrs = {"Host": "localhost"}
        hdrs.update(headers or {})
        if body is not None or method in ("POST", "PUT", "PATCH"):
            hdrs["Content-Length"] = str(len(body or b""))   # as http.client does
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        data = head.encode("latin-1") + (body or b"")
        t = self.timeout if timeout is None else timeout
        conn = self._take()
        if conn is not None:
            try:
                conn.sock.settimeout(t)
                return self._send(conn, method, data, reused=True)
            except _Stale as e:
                conn.close()
                if e.written and method not in IDEMPOTENT:
                    raise HTTPParseError("the daemon closed the connection before "
                                         "answering") from None
        conn = _Conn(self.path, t)
        try:
            return self._send(conn, method, data, reused=False)
        except _Stale:   # cannot happen on a fresh connection; keep the type honest
            raise HTTPParseError("the daemon closed the connection before answering") \
                from None

    def _send(self, conn: _Conn, method: str, data: bytes, reused: bool) -> Response:
        ok = False
        try:
            try:
                conn.sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                if reused:
                    raise _Stale(written=False) from None   # it never left
                raise
            while True:
                status, version, headers = conn.read_head(reused)
                if 100 <= status < 200 and status != 101:
                    continue   # an interim answer (100 Continue): the real one follows
                break
            body, keep = conn.read_body(method, status, headers)
            keep = keep and version == "HTTP/1.1" and \
                "close" not in headers.get("connection", "").lower()
            if keep:
                ok = True
                self._give(conn)
            return Response(status, headers, body)
        finally:
            if not ok:
                conn.close()

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()
