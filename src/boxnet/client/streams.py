"""Docker's multiplexed stream format and copying streams to the terminal.

A multiplexed stream is a sequence of frames: an 8-byte header
[stream type, 0, 0, 0, big-endian uint32 size] then `size` bytes of payload.
Stream types: 0 stdin, 1 stdout, 2 stderr, 3 system error (daemon-side failure).
A TTY stream is raw bytes without frames.
"""

from __future__ import annotations

import struct
import sys
import threading
from typing import BinaryIO, Iterable, Iterator

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3


def response_chunks(resp) -> Iterator[bytes]:
    """Yield bytes of an http.client response as they arrive (no full buffering)."""
    while True:
        data = resp.read1(65536)
        if not data:
            return
        yield data


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Split a multiplexed byte stream into (stream type, payload) frames."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= 8:
            kind = buf[0]
            (size,) = struct.unpack(">I", bytes(buf[4:8]))
            if len(buf) < 8 + size:
                break
            payload = bytes(buf[8:8 + size])
            del buf[:8 + size]
            yield kind, payload
    if buf:
        # A truncated frame at EOF: hand out what arrived rather than lose it.
        yield (buf[0] if buf[0] in (1, 2) else STDOUT), bytes(buf[8:])


def copy_output(chunks: Iterable[bytes], tty: bool,
                out: BinaryIO | None = None, err: BinaryIO | None = None) -> str | None:
    """Copy a container stream to stdout/stderr; return a system error text if any."""
    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    if tty:
        for chunk in chunks:
            out.write(chunk)
            out.flush()
        return None
    syserr = None
    for kind, payload in demux(chunks):
        if kind == SYSTEMERR:
            syserr = payload.decode("utf-8", "replace").strip()
            continue
        dest = err if kind == STDERR else out
        dest.write(payload)
        dest.flush()
    return syserr


def pump_stdin(stream, src: BinaryIO | None = None) -> threading.Thread:
    """Copy stdin into a hijacked stream in a daemon thread, half-closing at EOF."""
    src = src or sys.stdin.buffer

    def run() -> None:
        try:
            while True:
                data = src.read1(65536) if hasattr(src, "read1") else src.read(65536)
                if not data:
                    break
                stream.sock.sendall(data)
        except OSError:
            pass
        finally:
            stream.close_write()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def run_exec(client, container: str, body: dict) -> int:
    """Create an exec in `container` from `body` (the ExecConfig), start it detached
    or attached (stdin pumped when AttachStdin), and return its exit code as
    docker does: 126 when the daemon reported a failure and no code exists."""
    tty = bool(body.get("Tty"))
    exec_id = client.post(f"/containers/{container}/exec", body)["Id"]
    if body.get("Detach"):
        client.post(f"/exec/{exec_id}/start", {"Detach": True, "Tty": tty})
        return 0
    stream = client.hijack("POST", f"/exec/{exec_id}/start", body={"Detach": False,
                                                                  "Tty": tty})
    if body.get("AttachStdin"):
        pump_stdin(stream)
    syserr = copy_output(stream, tty)
    stream.close()
    if syserr:
        sys.stderr.write(f"Error response from daemon: {syserr}\n")
    code = client.get(f"/exec/{exec_id}/json").get("ExitCode")
    return 126 if code is None and syserr else (code or 0)
