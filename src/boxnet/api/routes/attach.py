"""Attach and resize: `docker run` (foreground, -it), `docker start -a`,
`docker attach`, and the interactive side of `docker exec -i/-it`.

- TTY container: the pty master the runtime holds (runtime/console.py) is
  pumped both ways, raw.
- Non-TTY container: output is followed from the stdout/stderr log files in
  Docker's multiplexed frames; stdin goes to the container's stdin FIFO.
The stream ends when the container exits (or the client leaves: nothing is
left behind, the pumps end with the connection).
"""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from ...errors import Conflict, NotFound
from .common import ctl, qbool, qint
from .hijack import Hijack
from .logs import frame

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
POLL = 0.05


def _exit_future(c, cont) -> asyncio.Future:
    """Resolved at the container's next exit (now, if it is running)."""
    fut = asyncio.get_running_loop().create_future()
    c._waiters[cont.id].append(fut)
    return fut


async def _pump_stdin(h: Hijack, write) -> None:
    while True:
        data = await h.stdin.get()
        if not data:
            return
        await write(data)


async def _tty_attach(c, cont, h: Hijack, want_stdin: bool, done: asyncio.Future) -> None:
    con = None
    while con is None and not done.done() and not h.gone.is_set():
        con = c.runtime.console(cont.id) if cont.status == "running" else None
        if con is None:
            await asyncio.sleep(POLL)
    if con is None:
        return
    q = con.subscribe()
    stdin_task = asyncio.ensure_future(_pump_stdin(h, con.write)) if want_stdin else None
    try:
        while True:
            data = await q.get()
            if not data or not await h.write(data):
                return
    finally:
        con.unsubscribe(q)
        if stdin_task is not None:
            stdin_task.cancel()


def _stdin_writer(c, cid: str):
    """An async writer into the container's stdin FIFO (opened lazily)."""
    state: dict = {}

    async def write(data: bytes) -> None:
        if "fd" not in state:
            try:
                path = c.runtime.stdin_path(cid)
            except NotFound:
                path = None
            if path is None or not os.path.exists(path):
                return
            state["fd"] = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        while data:
            try:
                data = data[os.write(state["fd"], data):]
            except BlockingIOError:
                await asyncio.sleep(POLL)
    write.state = state
    return write


async def _log_attach(c, cont, h: Hijack, want: dict, logs: bool, want_stdin: bool,
                      done: asyncio.Future) -> None:
    # Open (creating if needed, as the runtime's create does) the log files
    # now and read through these fds: an auto-removed container's files are
    # deleted right after it exits, possibly before we have read its output.
    files, offsets = {}, {}
    for s_, path in zip((1, 2), c.runtime.log_paths(cont.id)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        files[s_] = open(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640), "rb")
        offsets[s_] = 0 if logs else os.fstat(files[s_].fileno()).st_size
    writer = _stdin_writer(c, cont.id)
    stdin_task = asyncio.ensure_future(_pump_stdin(h, writer)) if want_stdin else None
    try:
        while not h.gone.is_set():
            finished = done.done()
            for s, off in offsets.items():
                files[s].seek(off)
                data = files[s].read(1 << 20)
                if data:
                    offsets[s] = off + len(data)
                    finished = False
                    if want[s] and not await h.write(frame(s, data)):
                        return
            if finished:
                return
            await asyncio.sleep(POLL)
    finally:
        for f in files.values():
            f.close()
        if stdin_task is not None:
            stdin_task.cancel()
        if "fd" in writer.state:
            os.close(writer.state["fd"])


async def attach(request: web.Request) -> web.StreamResponse:
    """POST /containers/{id}/attach?stream=&stdin=&stdout=&stderr=&logs=."""
    c = ctl(request)
    cont = c.container(request.match_info["id"])
    tty = cont.config.tty
    want = {1: qbool(request, "stdout"), 2: qbool(request, "stderr")}
    want_stdin = qbool(request, "stdin") and (cont.config.open_stdin or tty)
    h = Hijack(request, RAW if tty else MUX)
    if qbool(request, "stream"):
        done = _exit_future(c, cont)  # the next exit (it may not have started yet)
    else:
        done = asyncio.get_running_loop().create_future()
        done.set_result(cont.exit_code)
    await h.start()
    try:
        if tty:
            await _tty_attach(c, cont, h, want_stdin, done)
        else:
            await _log_attach(c, cont, h, want, qbool(request, "logs"), want_stdin, done)
    finally:
        waiters = c._waiters.get(cont.id)
        if waiters and done in waiters and not done.done():
            waiters.remove(done)
    return await h.finish()


async def resize(request: web.Request) -> web.Response:
    """POST /containers/{id}/resize?h=&w=."""
    c = ctl(request)
    cont = c.container(request.match_info["id"])
    if cont.status != "running":
        raise Conflict(f"container {cont.id} is not running")
    con = c.runtime.console(cont.id) if hasattr(c.runtime, "console") else None
    if con is not None:
        con.resize(qint(request, "h", 0) or 0, qint(request, "w", 0) or 0)
    return web.Response(status=200)


EXEC_CONSOLES: dict = {}  # exec id -> Console of a running `exec -t`


def _exec_consoles(request: web.Request) -> dict:
    return EXEC_CONSOLES


async def exec_resize(request: web.Request) -> web.Response:
    """POST /exec/{id}/resize?h=&w=."""
    ex = ctl(request).get_exec(request.match_info["id"])
    con = _exec_consoles(request).get(ex.id)
    if con is not None:
        con.resize(qint(request, "h", 0) or 0, qint(request, "w", 0) or 0)
    return web.Response(status=200)


async def exec_tty(request: web.Request, ex, h: Hijack) -> None:
    """Run an exec on a pty and pump it through the hijacked connection."""
    c = ctl(request)
    loop = asyncio.get_running_loop()
    exited: asyncio.Future = loop.create_future()
    ex.running = True

    def on_exit(code: int) -> None:
        ex.running, ex.exit_code = False, code
        if not exited.done():
            exited.set_result(code)
    try:
        con = await c.runtime.exec_tty(ex.container_id, ex.cmd, ex.env, ex.working_dir or "",
                                       on_exit)
    except BaseException:
        ex.running = False
        raise
    consoles = _exec_consoles(request)
    consoles[ex.id] = con
    q = con.subscribe()
    stdin_task = asyncio.ensure_future(_pump_stdin(h, con.write)) if ex.attach_stdin else None
    try:
        while True:
            data = await q.get()
            if not data or not await h.write(data):
                break
        await asyncio.wait_for(asyncio.shield(exited), 5)
    except asyncio.TimeoutError:
        pass
    finally:
        con.unsubscribe(q)
        consoles.pop(ex.id, None)
        if stdin_task is not None:
            stdin_task.cancel()
        if h.gone.is_set() and not con.closed.is_set():
            con.close()  # the client left: hang up the terminal (SIGHUP to the shell)


def add_routes(add) -> None:
    """Register this module's routes."""
    add("POST", "/containers/{id}/attach", attach)
    add("POST", "/containers/{id}/resize", resize)
    add("POST", "/exec/{id}/resize", exec_resize)
