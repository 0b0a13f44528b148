"""`docker cp`: HEAD, GET and PUT /containers/{id}/archive?path=.

HEAD answers the path's stat in the X-Docker-Container-Path-Stat header
(base64 JSON: name, size, mode as Go's FileMode, mtime, linkTarget); GET adds
the tar of the path; PUT extracts a tar (plain or compressed) into the
directory `path` with Docker's `noOverwriteDirNonDir` and `copyUIDGID`.

Which files: a running container's as it sees them (`/proc/<pid>/root`: its
volumes, binds and tmpfs included; /proc, /sys and /dev are archived as empty
directories), a stopped or created one's root (the overlay of its image and
writable layer, mounted if needed) with its volumes and binds looked up in
their sources.  Every path is resolved inside that root (runtime/cppath.py),
so neither the archive nor the container's own symlinks can reach the host.
The stat runs in a worker thread (runtime/cp.py); the tar of GET and the
extraction of PUT in a child process (runtime/cpworker.py, kernel/cpproc.py),
which writes GET's body onto the client's socket itself (runtime/cpsend.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

from aiohttp import web

from ...errors import Conflict, Forbidden, InvalidParameter, KernelError, NotFound
from ...kernel import cpproc
from ...runtime import cp
from ...runtime.cppath import ContainerFs, Mount, stat_header
from ...runtime.users import resolve_in_rootfs
from .common import ctl, qbool

log = logging.getLogger(__name__)
STAT_HEADER = "X-Docker-Container-Path-Stat"
RUNNING_SKIP = ("/proc", "/sys", "/dev")


def _mounts(cont) -> list[Mount]:
    """The volumes and binds of a stopped container (sources on the host)."""
    out = []
    for m in getattr(cont, "mounts", None) or []:   # volumes, resolved at create
        if m.type in ("volume", "bind") and m.source:
            out.append(Mount(m.destination, m.source, m.rw))
    if out:
        return out
    for b in cont.config.binds:   # "-v /host:/ctr[:opts]"
        parts = b.split(":")
        if len(parts) >= 2 and parts[0].startswith("/"):
            out.append(Mount(parts[1], parts[0], not (len(parts) > 2 and
                                                     "ro" in parts[2].split(","))))
    return out


def _readonly_root(cont) -> bool:
    return bool(cont.config.raw_host_config.get("ReadonlyRootfs"))


async def container_fs(request: web.Request, cont) -> ContainerFs:
    """The ContainerFs of a container in its current state."""
    c = ctl(request)
    if cont.status in ("running", "paused") and cont.pid > 0:
        return ContainerFs(f"/proc/{cont.pid}/root", readonly=False, skip=RUNNING_SKIP)
    image = c.images.get(cont.image_id)
    root = await c.runtime.writable_root(cont.id, image.rootfs, image.readonly)
    return ContainerFs(root.rootfs, _mounts(cont),
                       readonly=root.mode == "bind" or _readonly_root(cont))


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidParameter("path: a path in the container is required (path=)")
    return path


async def head(request: web.Request) -> web.Response:
    """HEAD /containers/{id}/archive?path=: the stat header only."""
    cont = ctl(request).container(request.match_info["id"])
    fs = await container_fs(request, cont)
    doc = await asyncio.to_thread(cp.stat_path, fs, _path(request))
    return web.Response(status=200, headers={STAT_HEADER: stat_header(doc)})


def _plain_socket(request: web.Request):
    """The client's socket when the worker may write the body onto it itself:
    HTTP/1.1 (chunked) on a plain Unix or TCP socket (not TLS)."""
    transport = request.transport
    if transport is None or transport.is_closing() or request.version < (1, 1) \
            or transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
        return None
    return sock


async def _headers_sent(request: web.Request) -> bool:
    """Wait until the transport has handed the response headers to the kernel
    (the worker's bytes must come after them); False when the client left."""
    transport = request.transport
    while transport is not None and not transport.is_closing():
        if transport.get_write_buffer_size() == 0:
            return True
        await asyncio.sleep(0.001)
    return False


async def get(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/archive?path=: the tar of the path, its stat in the
    header.  The stat is taken here (a missing path is a 404 before any byte);
    the tar is written by a child process (kernel/cpproc.py says why), on a
    plain socket straight onto it as HTTP chunks (the last chunk is sent
    here), else through its stdout and this loop."""
    cont = ctl(request).container(request.match_info["id"])
    fs = await container_fs(request, cont)
    path = _path(request)
    doc = await asyncio.to_thread(cp.stat_path, fs, path)
    resp = web.StreamResponse(headers={STAT_HEADER: stat_header(doc),
                                       "Content-Type": "application/x-tar"})
    spec = {"mode": "get", "root": fs.root, "readonly": fs.readonly, "path": path,
            "mounts": [[m.destination, m.source, m.rw] for m in fs.mounts],
            "skip": list(fs.skip)}
    sock = _plain_socket(request)
    if sock is not None:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    if sock is not None and await _headers_sent(request):
        code, err = await cpproc.socket_worker(spec, sock.fileno())
    else:
        code, err = await cpproc.stream_worker(json.dumps(spec), resp.write)
    if code != 0:   # too late for a status: the client sees a cut tar
        log.warning("docker cp from %s:%s failed half-way: %s", cont.name, path,
                    err.decode(errors="replace").strip()[-500:])
        if request.transport is not None:
            request.transport.close()
        return resp
    await resp.write_eof()
    cpproc.warm()
    return resp


def _owner(cont, fs: ContainerFs, copy_uid_gid: bool) -> tuple[int, int] | None:
    """copyUIDGID: every file owned by the container's user (Docker's
    tarCopyOptions); without it, or with no user set, the archive's owners."""
    user = cont.config.raw_config.get("User") or ""
    if not copy_uid_gid or not user:
        return None
    u = resolve_in_rootfs(fs.root, user, [])
    return u.uid, u.gid


RECV = 60 * 1024   # bytes per recv(2) of a PUT body: below MMAP_THRESHOLD, as measured


class _HeapSizedReads:
    """While a PUT body is read, its socket is read RECV bytes at a time, not
    asyncio's 256 KiB.  Why: the daemon's malloc mmaps every block of
    MMAP_THRESHOLD or more and unmaps it when freed (kernel/malloc.py); at the
    64 KiB threshold of 2026-12-07 (now 1 MiB, above asyncio's reads) each
    256 KiB read was a fresh mapping, page-faulted in, copied once more into a
    bytes object of that size, then unmapped: a 100 MiB copy cost ~1100
    mmap/munmap pairs and 0.13-0.15 s of the daemon's system time (measured:
    strace, /proc/PID/stat; its system time went from ~0.24 s to ~0.10 s), on
    a 2-core machine beside the worker writing the files.  Smaller blocks
    come from the heap and are reused.  The size is an attribute of asyncio's
    selector transport (`max_size`, read at each recv); a transport without
    it is left as it is."""

    def __init__(self, transport):
        """`transport`: the request's (None: nothing to do)."""
        self.transport = transport
        self.set = transport is not None and \
            isinstance(getattr(type(transport), "max_size", None), int)

    def __enter__(self) -> None:
        if self.set:
            self.transport.max_size = RECV

    def __exit__(self, *exc) -> None:
        if self.set:   # the class's size again for what the connection reads next
            self.transport.__dict__.pop("max_size", None)


_BY_STATUS = {400: InvalidParameter, 403: Forbidden, 404: NotFound, 409: Conflict}


async def put(request: web.Request) -> web.Response:
    """PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=.
    The extraction runs in a child process (kernel/cpproc.py says why) fed
    with the body as it arrives, in pieces of at most RECV bytes (even when
    the worker fell behind and several are waiting: joined, they would be
    mmap'd blocks again, see _HeapSizedReads)."""
    cont = ctl(request).container(request.match_info["id"])
    path = _path(request)
    fs = await container_fs(request, cont)
    owner = _owner(cont, fs, qbool(request, "copyUIDGID"))
    spec = json.dumps({"root": fs.root, "readonly": fs.readonly, "path": path,
                       "mounts": [[m.destination, m.source, m.rw] for m in fs.mounts],
                       "no_overwrite": qbool(request, "noOverwriteDirNonDir"),
                       "owner": list(owner) if owner else None})
    with _HeapSizedReads(request.transport):
        code, out, err = await cpproc.run_worker(spec, request.content.iter_chunked(RECV))
    try:
        answer = json.loads(out.decode(errors="replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise KernelError(f"docker cp: the extraction worker failed (exit {code}): "
                          f"{err.decode(errors='replace').strip()[-2000:]}") from None
    if "members" not in answer:
        raise _BY_STATUS.get(answer.get("status"), KernelError)(answer.get("message", "?"))
    resp = web.Response(status=200)
    await resp.prepare(request)
    await resp.write_eof()
    cpproc.warm()   # once the answer is out
    return resp


def add_routes(add) -> None:
    """Register this module's routes."""
    add("HEAD", "/containers/{id}/archive", head)
    add("GET", "/containers/{id}/archive", get)
    add("PUT", "/containers/{id}/archive", put)
