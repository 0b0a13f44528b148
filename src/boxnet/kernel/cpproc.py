"""The `docker cp` extraction worker as a child process (runtime/cpworker.py).

Why a process: extracting a tar is thousands of system calls, and a thread of
the daemon must take the GIL back after each one; while the event loop is busy
(reading that very request body, answering DNS) each take-back waits for the
loop's switch interval, and a 100 MiB copy took 3-4x its time (measured: 1.4 s
alone, 5.2 s beside a busy thread).  A child has its own interpreter: the
daemon only moves the body's bytes into its stdin pipe.

A warm spare: starting the interpreter and importing the worker's modules
costs 50 ms on a quiet machine (70-110 ms loaded), on every copy.  So after
a copy ends one worker is started ahead and waits, imported, for its SPEC on
a SOCK_SEQPACKET control socket (one message: the JSON, and for GET the
client's socket as SCM_RIGHTS).  The next copy takes it: its start is off the
request path.  Why not a fork of the daemon: it is multi-threaded (the event
loop's executor, the DNS and supervisor threads) and a fork copies locks held
by other threads; the spare is a fresh interpreter.  It is made on first use
only (a daemon that never copies has no extra process) and exits by itself
when the daemon goes (its control socket ends).  One spare per event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import socket
import sys
from typing import AsyncIterator

OUT_KEEP = 65536   # bytes of the worker's answer and complaints kept
PIPE_SIZE = 1 << 20   # fs.pipe-max-size's default


def widen_pipe(fd: int) -> None:
    """Grow a pipe to 1 MiB (F_SETPIPE_SZ): with the default 64 KiB every MiB of a
    copy costs 16 round trips between the daemon's loop and the worker.  A kernel
    or a pipe-max-size that refuses keeps the default size, which works too."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        return


def _widen(transport) -> None:
    pipe = transport.get_extra_info("pipe") if transport is not None else None
    if pipe is not None:
        widen_pipe(pipe.fileno())


_spare: dict = {}   # event loop -> (process, control socket): the warm worker
_filling: set = set()   # loops whose spare is being started (one at a time)


async def _start() -> tuple[asyncio.subprocess.Process, socket.socket]:
    """A new worker waiting for its SPEC on the returned control socket."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "boxnet.runtime.cpworker", "--wait", str(child.fileno()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, pass_fds=(child.fileno(),), limit=1 << 20)
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    return proc, parent


def _discard(proc, ctl: socket.socket) -> None:
    """Let an unused worker go: its control socket ends, so it exits."""
    ctl.close()
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def _refill(loop) -> None:
    """Start the spare of `loop` unless there is one (or one is starting)."""
    if loop in _filling or loop in _spare:
        return
    _filling.add(loop)
    try:
        _spare[loop] = await _start()
    except OSError:
        return   # no spare: the next copy starts its own worker
    finally:
        _filling.discard(loop)


async def _take(spec: str, fd: int | None) -> asyncio.subprocess.Process:
    """A worker running `spec` (with the client's socket `fd`, if given): the
    warm spare when there is a live one, else a new one."""
    loop = asyncio.get_running_loop()
    got = _spare.pop(loop, None)
    if got is None or got[0].returncode is not None:
        if got is not None:
            _discard(*got)
        got = await _start()
    proc, ctl = got
    try:
        socket.send_fds(ctl, [spec.encode()], [fd] if fd is not None else [])
    except OSError:   # it died between the check and the send: a new one
        _discard(proc, ctl)
        proc, ctl = await _start()
        socket.send_fds(ctl, [spec.encode()], [fd] if fd is not None else [])
    ctl.close()
    return proc


def warm() -> None:
    """Start the spare for the next copy in the background.  The routes call
    it once their answer is sent: not during a copy, whose CPU it would take
    on a small machine, and not between the copy's end and its answer."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(_refill(loop))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


_tasks: set = set()


async def _drain(stream) -> bytes:
    kept = b""
    while chunk := await stream.read(65536):
        kept += chunk[:OUT_KEEP - len(kept)]
    return kept


async def _kill(proc) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def run_worker(spec: str, body: AsyncIterator[bytes]) -> tuple[int, bytes, bytes]:
    """Run the worker with `spec` (its JSON), feed it `body`; return
    (exit code, its answer on stdout, its stderr), each bounded."""
    proc = await _take(spec, None)
    _widen(proc.stdin.transport)
    readers = asyncio.gather(_drain(proc.stdout), _drain(proc.stderr))
    try:
        try:
            async for chunk in body:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass   # the worker stopped reading (a refused member): its answer says why
        finally:
            try:
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass
        out, err = await readers
        return await proc.wait(), out, err
    except BaseException:   # the client left, the daemon stops: no orphan worker
        await _kill(proc)
        readers.cancel()
        raise


async def stream_worker(spec: str, write) -> tuple[int, bytes]:
    """Run the worker with `spec` and hand its stdout to `await write(chunk)` as
    it comes; return (exit code, its stderr, bounded)."""
    proc = await _take(spec, None)
    proc.stdin.close()
    err_task = asyncio.ensure_future(_drain(proc.stderr))
    try:
        while chunk := await proc.stdout.read(1 << 20):
            await write(chunk)
        err = await err_task
        return await proc.wait(), err
    except BaseException:   # the client left: no orphan worker
        await _kill(proc)
        err_task.cancel()
        raise


async def socket_worker(spec: dict, sock_fd: int) -> tuple[int, bytes]:
    """Run the worker with `spec` writing its output straight onto the client's
    socket `sock_fd` (sent to it, SCM_RIGHTS; the caller keeps its own);
    return (exit code, its stderr, bounded).  The daemon's loop moves none
    of the bytes (runtime/cpsend.py)."""
    proc = await _take(json.dumps({**spec, "sock_fd": -1}), sock_fd)
    proc.stdin.close()
    readers = asyncio.gather(_drain(proc.stdout), _drain(proc.stderr))
    try:
        _, err = await readers
        return await proc.wait(), err
    except BaseException:   # the client left: no orphan worker
        await _kill(proc)
        readers.cancel()
        raise


async def close() -> None:
    """Daemon shutdown: a spare still being started is waited for (cancelling a process
    creation as the loop closes can leave asyncio waiting for a child it never reaps),
    then the spare is let go."""
    if _tasks:
        await asyncio.wait(set(_tasks), timeout=5)
    got = _spare.pop(asyncio.get_running_loop(), None)
    if got is not None:
        _discard(*got)
        with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
            await asyncio.wait_for(got[0].wait(), 5)
