"""`boxnet ui`'s proxy: a loopback-only TCP listener that passes the page's GETs to the daemon.

The daemon listens only on its unix socket; a browser speaks TCP.  This proxy
listens on 127.0.0.1 (never another address) and forwards, one request per
connection (``Connection: close``), only what the page reads: GET/HEAD of
/boxnet/ui/, /networks, /containers/json, /events, /boxnet/v1/diagnose and
/boxnet/v1/flows.  Everything else is a 403: a loopback port must not become
an unauthenticated door to the whole Engine API.  The Host header must name
the listener itself (a web page that rebinds its DNS name to 127.0.0.1 is
refused) and an Origin, when sent, must be the proxy's own.
"""

from __future__ import annotations

import asyncio
import re

ALLOWED = re.compile(r"^(/v[0-9.]+)?(/boxnet/ui(/[A-Za-z0-9_.-]*)?|/networks|/containers/json"
                     r"|/events|/boxnet/v1/diagnose|/boxnet/v1/flows)$")
HOP = ("connection", "keep-alive", "proxy-connection", "upgrade", "te", "transfer-encoding")
MAX_HEAD = 16 << 10


def allowed(method: str, target: str, headers: dict[str, str], port: int) -> str:
    """'' when the request may pass, else why it is refused."""
    if method not in ("GET", "HEAD"):
        return f"method {method} not allowed"
    if not ALLOWED.match(target.split("?", 1)[0]):
        return f"path {target.split('?', 1)[0]} not allowed"
    hosts = (f"127.0.0.1:{port}", f"localhost:{port}")
    if headers.get("host", "") not in hosts:
        return f"Host {headers.get('host', '')!r} is not this proxy"
    origin = headers.get("origin")
    if origin is not None and origin not in tuple("http://" + h for h in hosts):
        return f"Origin {origin!r} is not this proxy"
    return ""


def _refuse(why: str) -> bytes:
    body = why.encode()
    return (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


async def _handle(sock_path: str, port: int, cr: asyncio.StreamReader,
                  cw: asyncio.StreamWriter) -> None:
    try:
        try:
            head = await asyncio.wait_for(cr.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return
        method, target, _ = parts
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        why = allowed(method, target, headers, port)
        if why:
            cw.write(_refuse(why))
            await cw.drain()
            return
        out = [f"{method} {target} HTTP/1.1"]
        out += [f"{k}: {v}" for k, v in headers.items() if k not in HOP]
        out += ["Connection: close", "", ""]
        dr, dw = await asyncio.open_unix_connection(sock_path)
        try:
            dw.write("\r\n".join(out).encode("latin-1"))
            await dw.drain()
            down = asyncio.ensure_future(_pipe(dr, cw))
            gone = asyncio.ensure_future(cr.read(1))   # the browser closed (or sent more)
            await asyncio.wait({down, gone}, return_when=asyncio.FIRST_COMPLETED)
            for t in (down, gone):
                t.cancel()
        finally:
            dw.close()
    except (ConnectionError, OSError):
        return
    finally:
        cw.close()


async def serve(sock_path: str, port: int = 0, ready=None) -> None:
    """Listen on 127.0.0.1:port (0: any free port) until cancelled; ``ready(port)`` is
    called with the bound port once listening."""
    bound = {}

    def handler(r, w):
        return _handle(sock_path, bound["port"], r, w)

    server = await asyncio.start_server(handler, "127.0.0.1", port, limit=MAX_HEAD)
    bound["port"] = server.sockets[0].getsockname()[1]
    if ready:
        ready(bound["port"])
    async with server:
        await server.serve_forever()
