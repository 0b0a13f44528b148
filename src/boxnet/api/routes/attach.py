"""Attach and resize: `docker run` (foreground, -i, -it), `docker start -a`,
`docker attach`, and the interactive side of `docker exec -it`.

A container's terminal and stdin are held by its shim (runtime/shim.py), so
they survive daemon restarts; each attach is one connection to the shim.
- TTY container: output is the shim's live stream (raw), starting at the
  stdout log offset seen when the attach began, so `docker run -it` misses
  nothing printed before it connected; input goes to the terminal through the
  detach-key scanner (detach.py).
- Non-TTY container: output is followed from the stdout/stderr log files in
  Docker's multiplexed frames; stdin goes to the shim's pipe, and when the
  client's stdin ends (CloseWrite) a StdinOnce container's stdin is closed:
  `echo hi | docker run -i busybox cat` ends.
The stream ends when the container exits, the client detaches or leaves;
every task and connection of the attach ends with it.
"""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from ...errors import Conflict, InvalidParameter, KernelError
from ...runtime.execproc import exit_code_of_failure
from .common import ctl, qbool, qint
from .detach import DEFAULT_DETACH_KEYS, DetachScanner, parse_detach_keys
from .hijack import Hijack
from .logs import frame

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
POLL = 0.05
CHUNK = 65536   # bytes read from a log per write to the client


def _exit_future(c, cont) -> asyncio.Future:
    """Resolved at the container's next exit (now, if it is running)."""
    return c.wait_future(cont, next_exit=True)


async def _session(c, cont, h: Hijack, done: asyncio.Future, output: bool, offset: int = -1):
    """A connection to the container's shim, once it runs (None if it ended first)."""
    while not done.done() and not h.gone.is_set():
        con = c.runtime.console(cont.id) if cont.status == "running" else None
        if con is not None:
            try:
                return await con.attach(output, offset)
            except OSError:
                pass  # a shim that just ended, or one not listening yet
        await asyncio.sleep(POLL)
    return None


async def _pump_stdin(h: Hijack, write, scanner: DetachScanner | None = None) -> None:
    """Client stdin -> `write` until the client's stdin ends; detach keys end the attach."""
    while True:
        data = await h.stdin.get()
        if not data:
            return
        if scanner is not None:
            data, detach = scanner.feed(data)
            if data:
                await write(data)
            if detach:
                h.close()
                return
        else:
            await write(data)


async def _stdin_to_shim(c, cont, h: Hijack, done: asyncio.Future, stdin_once: bool) -> None:
    """Non-TTY: stdin into the container's pipe; close it at the end if StdinOnce."""
    sess = None
    try:
        first = await h.stdin.get()   # wait for input before connecting (may be b"")
        sess = await _session(c, cont, h, done, False)
        if sess is None:
            return
        if first:
            await sess.write(first)
            await _pump_stdin(h, sess.write)
        if stdin_once:
            await sess.close_stdin()
    finally:
        if sess is not None:
            sess.close()


def _open_log(path: str) -> int:
    """An fd on a log file, created if needed (as the runtime's create does):
    an auto-removed container's files go right after it exits, maybe before
    the attach has read them."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)


async def _copy_log(fd: int, offset: int, h: Hijack) -> None:
    """The log from `offset` to its current end, to the client, a chunk at a
    time (never the whole file in memory)."""
    end = os.fstat(fd).st_size
    while offset < end:
        data = os.pread(fd, min(CHUNK, end - offset), offset)
        if not data or not await h.write(data):
            return
        offset += len(data)


async def _tty_attach(c, cont, h: Hijack, want_stdin: bool, done: asyncio.Future,
                      log_fd: int, offset: int, keys: bytes) -> None:
    sess = await _session(c, cont, h, done, True, offset)
    if sess is None:   # it ran and ended before we could connect: show its output
        await _copy_log(log_fd, offset, h)
        return
    gone = asyncio.ensure_future(h.gone.wait())
    gone.add_done_callback(lambda _: sess.close())  # ends the read below
    stdin_task = asyncio.ensure_future(
        _pump_stdin(h, sess.write, DetachScanner(keys))) if want_stdin else None
    try:
        while True:
            data = await sess.read()
            if not data or not await h.write(data):
                return
    finally:
        gone.cancel()
        sess.close()
        if stdin_task is not None:
            stdin_task.cancel()


async def _log_attach(c, cont, h: Hijack, want: dict, logs: bool, done: asyncio.Future) -> None:
    """Follow the wanted log files a chunk at a time: the client's pace sets
    how fast they are read (the container writes to the files, not to us)."""
    files, offsets = {}, {}
    for s_, path in zip((1, 2), c.runtime.log_paths(cont.id)):
        if want[s_]:
            files[s_] = open(_open_log(path), "rb")
            offsets[s_] = 0 if logs else os.fstat(files[s_].fileno()).st_size
    try:
        while not h.gone.is_set():
            finished, got = done.done(), False
            for s, off in offsets.items():
                files[s].seek(off)
                data = files[s].read(CHUNK)
                if data:
                    offsets[s] = off + len(data)
                    got = True
                    if not await h.write(frame(s, data)):
                        return
            if got:
                continue
            if finished:
                return
            await asyncio.sleep(POLL)
    finally:
        for f in files.values():
            f.close()


async def attach(request: web.Request) -> web.StreamResponse:
    """POST /containers/{id}/attach?stream=&stdin=&stdout=&stderr=&logs=&detachKeys=."""
    c = ctl(request)
    cont = c.container(request.match_info["id"])
    tty = cont.config.tty
    want = {1: qbool(request, "stdout"), 2: qbool(request, "stderr")}
    want_stdin = qbool(request, "stdin") and (cont.config.open_stdin or tty)
    stdin_once = bool((cont.config.raw_config or {}).get("StdinOnce"))
    keys = parse_detach_keys(request.query.get("detachKeys") or DEFAULT_DETACH_KEYS)
    logs, stream = qbool(request, "logs"), qbool(request, "stream")
    log_fd = _open_log(c.runtime.log_paths(cont.id)[0]) if tty else -1
    offset = 0 if logs or not tty else os.fstat(log_fd).st_size
    h = Hijack(request, RAW if tty else MUX)
    if stream:
        done = _exit_future(c, cont)  # the next exit (it may not have started yet)
    else:
        done = asyncio.get_running_loop().create_future()
        done.set_result(cont.exit_code)
    stdin_task = None
    try:
        await h.start()
        if tty and stream:
            await _tty_attach(c, cont, h, want_stdin, done, log_fd, offset, keys)
        elif tty:
            if logs and want[1]:
                await _copy_log(log_fd, 0, h)
        else:
            if want_stdin and stream:
                stdin_task = asyncio.ensure_future(_stdin_to_shim(c, cont, h, done, stdin_once))
            await _log_attach(c, cont, h, want, logs, done)
    finally:
        if log_fd >= 0:
            os.close(log_fd)
        if stdin_task is not None:
            if not stdin_task.done() and not h.gone.is_set():
                # The output ended first (the container exited): let the pump
                # finish what the client already sent, briefly.
                await asyncio.wait([stdin_task], timeout=0.5)
            stdin_task.cancel()
        done.cancel()   # no longer waited for (a no-op once the container exited)
    return await h.finish()


async def resize(request: web.Request) -> web.Response:
    """POST /containers/{id}/resize?h=&w=."""
    c = ctl(request)
    height, width = tty_size(request)
    cont = c.container(request.match_info["id"])
    if cont.status != "running":
        raise Conflict(f"container {cont.id} is not running")
    con = c.runtime.console(cont.id)
    if con is not None and con.tty:
        await con.resize(height, width)
    return web.Response(status=200)


def tty_size(request: web.Request) -> tuple[int, int]:
    """resize's h and w: 0-65535 each (a terminal size is two unsigned shorts)."""
    return (qint(request, "h", 0, hi=0xFFFF), qint(request, "w", 0, hi=0xFFFF))


async def exec_resize(request: web.Request) -> web.Response:
    """POST /exec/{id}/resize?h=&w=."""
    height, width = tty_size(request)
    ctl(request).resize_exec(request.match_info["id"], height, width)
    return web.Response(status=200)


async def exec_tty_detached(request: web.Request, ex) -> None:
    """`exec -d -t`: the program gets its terminal; nobody is attached, so its
    output is read and discarded (as dockerd does), never queued."""
    try:
        await ctl(request).start_exec_tty(ex.id)
    except KernelError as exc:   # as for `exec -d` without a terminal (execs.py)
        code = exit_code_of_failure(exc.message)
        if code in (126, 127):
            ex.exit_code = code
            raise InvalidParameter(f"OCI runtime exec failed: {exc.message}") from None
        raise


async def exec_tty(request: web.Request, ex, h: Hijack) -> None:
    """Run an exec on a pty and pump it through the hijacked connection."""
    c = ctl(request)
    exited: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_exit(code: int) -> None:
        if not exited.done():
            exited.set_result(code)
    con = await c.start_exec_tty(ex.id, on_exit)
    q = con.subscribe()
    gone = asyncio.ensure_future(h.gone.wait())
    gone.add_done_callback(lambda _: q.end())  # a client that left ends the loop
    # Detach keys (DetachKeys, else Docker's ctrl-p,ctrl-q) end the attach but
    # leave the program running on its terminal, as `docker exec -it` does.
    scanner = DetachScanner(parse_detach_keys(ex.detach_keys or DEFAULT_DETACH_KEYS))
    detached = asyncio.Event()

    async def pump() -> None:
        while data := await h.stdin.get():
            data, detach = scanner.feed(data)
            if data:
                await con.write(data)
            if detach:
                detached.set()
                h.close()
                return
    stdin_task = asyncio.ensure_future(pump()) if ex.attach_stdin else None
    try:
        while True:
            data = await q.get()
            if not data or not await h.write(data):
                break
        if not h.gone.is_set():
            await asyncio.wait_for(asyncio.shield(exited), 5)
    except asyncio.TimeoutError:
        pass
    finally:
        gone.cancel()
        con.unsubscribe(q)
        if not detached.is_set():   # a detached exec keeps its console (and resize)
            c.release_exec_console(ex.id)
        if stdin_task is not None:
            stdin_task.cancel()
        if h.gone.is_set() and not con.closed.is_set() and not detached.is_set():
            con.close()  # the client left: hang up the terminal (SIGHUP to the shell)


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/containers/{id}/attach", attach)
    add("POST", "/containers/{id}/resize", resize)
    add("POST", "/exec/{id}/resize", exec_resize)
