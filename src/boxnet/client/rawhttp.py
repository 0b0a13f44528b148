"""One HTTP/1.0 request over a unix socket with a plain socket (no http.client).

Kept for start-up time: only the C ``_socket`` module is imported.

For the CNI plugin (cni/main.py), which is started once per ADD/DEL: importing
http.client pulls in email, ssl and friends, ~150 ms of start-up on a loaded 2-core
machine, more than the whole request.  HTTP/1.0 makes the server close the
connection after its answer, so the body is what follows the headers up to EOF.
"""

from __future__ import annotations

import _socket   # the C module: `socket` imports enum, selectors... (~15 ms more start-up)


class RawHTTPError(OSError):
    """The answer was not HTTP."""


def post_json(sock_path: str, path: str, body: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
    """POST ``body`` (JSON) to ``path``; returns (status, body). OSError on connection failures."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(b"POST %s HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                  % (path.encode(), len(body), body))
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        s.close()
    raw = b"".join(chunks)
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/"):
        raise RawHTTPError(f"not an HTTP answer: {raw[:80]!r}")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise RawHTTPError(f"bad status line: {head.splitlines()[0][:80]!r}") from None
    return status, rest
