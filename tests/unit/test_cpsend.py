"""`docker cp` out of a container written straight onto the client's socket
(runtime/cpsend.py) and the warm cp worker (kernel/cpproc.py)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time

import pytest

from boxnet.kernel import cpproc, inroot
from boxnet.runtime import cp, cpsend
from boxnet.runtime.cppath import ContainerFs

pytestmark = pytest.mark.skipif(not inroot.available(), reason="no openat2 on this kernel")


@pytest.fixture
def tree(tmp_path):
    """A root with small, large (sendfile'd), empty, odd-sized files, a symlink, a hard link."""
    root = tmp_path / "root"
    d = root / "data"
    (d / "sub").mkdir(parents=True)
    (d / "big.bin").write_bytes(os.urandom(3 * cpsend.SMALL + 7))
    (d / "sub" / "small.txt").write_bytes(os.urandom(1000))
    (d / "empty").write_bytes(b"")
    os.link(d / "sub" / "small.txt", d / "hard")
    os.symlink("../etc/passwd", d / "sub" / "link")
    return root


def _tarfile_bytes(fs: ContainerFs, path: str) -> bytes:
    chunks: list[bytes] = []
    cp.prepare_get(fs, path)[1](chunks.append)
    return b"".join(chunks)


def _dechunk(raw: bytes) -> bytes:
    """The body of an HTTP chunked stream (must end with the last chunk)."""
    out, pos = [], 0
    while True:
        eol = raw.index(b"\r\n", pos)
        size = int(raw[pos:eol], 16)
        if size == 0:
            assert raw[eol:] == b"\r\n\r\n", "nothing may follow the last chunk"
            return b"".join(out)
        out.append(raw[eol + 2:eol + 2 + size])
        assert raw[eol + 2 + size:eol + 4 + size] == b"\r\n"
        pos = eol + 4 + size


def _read_all(sock: socket.socket, slow: bool = False) -> bytes:
    got = []
    while data := sock.recv(4096 if slow else 1 << 20):
        got.append(data)
        if slow:
            time.sleep(0.0005)
    return b"".join(got)


def test_direct_tar_on_a_nonblocking_socket_is_tarfiles_bytes(tree):
    """Chunk framing, sendfile of large files, EAGAIN waits on a slow reader:
    the body is byte for byte what tarfile writes."""
    fs = ContainerFs(str(tree))
    want = _tarfile_bytes(fs, "/data")
    a, b = socket.socketpair()
    a.setblocking(False)   # as the daemon's own socket
    result = {}
    reader = threading.Thread(target=lambda: result.setdefault("raw", _read_all(b, slow=True)))
    reader.start()
    n = cp.prepare_get(fs, "/data")[1](out=cpsend.Out(a.fileno(), chunked=True))
    a.setblocking(True)
    a.sendall(b"0\r\n\r\n")   # the daemon's last chunk
    a.close()
    reader.join(30)
    assert n == len(want)
    assert _dechunk(result["raw"]) == want


def test_direct_tar_on_a_pipe_is_plain(tree):
    """The stdout fallback: no framing, sendfile into a pipe."""
    fs = ContainerFs(str(tree))
    want = _tarfile_bytes(fs, "/data")
    r, w = os.pipe()
    got = []
    reader = threading.Thread(target=lambda: got.extend(iter(lambda: os.read(r, 65536), b"")))
    reader.start()
    cp.prepare_get(fs, "/data")[1](out=cpsend.Out(w, chunked=False))
    os.close(w)
    reader.join(30)
    os.close(r)
    assert b"".join(got) == want


def test_a_file_that_shrank_cuts_the_stream_without_an_end(tree, monkeypatch):
    """A failure half-way must not end the tar: the client sees it cut."""
    fs = ContainerFs(str(tree))
    real = os.sendfile
    monkeypatch.setattr(os, "sendfile", lambda o, i, off, n: 0 if off else real(o, i, off, n))
    r, w = os.pipe()
    os.set_blocking(r, False)
    with pytest.raises(OSError, match="shrank"):
        cp.prepare_get(fs, "/data")[1](out=cpsend.Out(w, chunked=False))
    os.close(w)
    data = os.read(r, 1 << 20)
    os.close(r)
    assert data and not data.endswith(b"\0" * 1024)


def test_the_warm_worker_takes_the_next_copy(tree):
    """After a copy one worker waits, imported; the next copy is sent to it
    (its pid), the client's socket handed over with SCM_RIGHTS."""
    spec = {"mode": "get", "root": str(tree), "readonly": False, "path": "/data",
            "mounts": [], "skip": []}
    want = _tarfile_bytes(ContainerFs(str(tree)), "/data")

    async def scenario():
        loop = asyncio.get_running_loop()
        collect = _Collect()
        code, err = await cpproc.stream_worker(json.dumps(spec), collect)
        assert code == 0, err
        assert b"".join(collect.chunks) == want
        cpproc.warm()   # as the route does once its answer is out
        deadline = loop.time() + 60
        while loop not in cpproc._spare and loop.time() < deadline:
            await asyncio.sleep(0.05)
        spare = cpproc._spare[loop][0]
        assert spare.returncode is None   # waiting
        a, b = socket.socketpair()
        a.setblocking(False)
        reading = loop.run_in_executor(None, _read_all, b)
        code, err = await cpproc.socket_worker(spec, a.fileno())
        assert code == 0, err
        a.setblocking(True)
        a.sendall(b"0\r\n\r\n")
        a.close()
        raw = await reading
        b.close()
        assert _dechunk(raw) == want
        assert spare.returncode == 0   # the spare did this copy and ended
        cpproc.warm()
        while cpproc._tasks and loop.time() < deadline + 60:   # the next spare, started
            await asyncio.sleep(0.05)
        for proc, ctl in list(cpproc._spare.values()):   # no process left behind
            cpproc._discard(proc, ctl)
            await proc.wait()
        cpproc._spare.clear()
    asyncio.run(scenario())


class _Collect:
    def __init__(self):
        self.chunks: list[bytes] = []

    async def __call__(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
