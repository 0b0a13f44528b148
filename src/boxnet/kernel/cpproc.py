"""The `docker cp` extraction worker as a child process (runtime/cpworker.py).

Why a process: extracting a tar is thousands of system calls, and a thread of
the daemon must take the GIL back after each one; while the event loop is busy
(reading that very request body, answering DNS) each take-back waits for the
loop's switch interval, and a 100 MiB copy took 3-4x its time (measured: 1.4 s
alone, 5.2 s beside a busy thread).  A child has its own interpreter: the
daemon only moves the body's bytes into its stdin pipe.
"""

from __future__ import annotations

import asyncio
import fcntl
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


async def run_worker(spec: str, body: AsyncIterator[bytes]) -> tuple[int, bytes, bytes]:
    """Run the worker with `spec` (its JSON argument), feed it `body`; return
    (exit code, its answer on stdout, its stderr), each bounded."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "boxnet.runtime.cpworker", spec,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _widen(proc.stdin.transport)

    async def drain(stream) -> bytes:
        kept = b""
        while chunk := await stream.read(65536):
            kept += chunk[:OUT_KEEP - len(kept)]
        return kept
    readers = asyncio.gather(drain(proc.stdout), drain(proc.stderr))
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
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        readers.cancel()
        raise


async def stream_worker(spec: str, write) -> tuple[int, bytes]:
    """Run the worker with `spec` and hand its stdout to `await write(chunk)` as
    it comes; return (exit code, its stderr, bounded)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "boxnet.runtime.cpworker", spec,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, limit=1 << 20)

    async def drain_err() -> bytes:
        kept = b""
        while chunk := await proc.stderr.read(65536):
            kept += chunk[:OUT_KEEP - len(kept)]
        return kept
    err_task = asyncio.ensure_future(drain_err())
    try:
        while chunk := await proc.stdout.read(1 << 20):
            await write(chunk)
        err = await err_task
        return await proc.wait(), err
    except BaseException:   # the client left: no orphan worker
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        err_task.cancel()
        raise
