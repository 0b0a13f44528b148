"""`ps` on the host, for `docker top` (dockerd runs it the same way).

The pids of the container are given with `-q` so ps lists only them; some
options (`f`, forest) cannot be combined with -q, so ps is run again without
it and the caller filters (moby daemon/top_unix.go does the same).
"""

from __future__ import annotations

import asyncio
import os
import shutil

from boxnet.errors import InvalidParameter

PS = shutil.which("ps") or "/usr/bin/ps"
# Why: ps cuts BSD-style listings (`aux`) to the width of a terminal it finds,
# or 80 columns; the API's clients want whole command lines.
_ENV = {**os.environ, "COLUMNS": "131072"}


async def _ps(argv: list[str]) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        PS, *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=_ENV)
    out, err = await proc.communicate()
    return proc.returncode, out, err


async def run_ps(args: list[str], pids: list[int]) -> bytes:
    """ps's output for `args` (e.g. ["-ef"]), restricted to `pids` when ps can;
    InvalidParameter with ps's own message when it refuses the options."""
    rc, out, err = await _ps([*args, "-q", ",".join(str(p) for p in pids)]) if pids else \
        (1, b"", b"")
    if rc != 0:
        rc, out, err = await _ps(list(args))
    if rc != 0:
        msg = err.decode(errors="replace").strip().splitlines()
        raise InvalidParameter(f"ps: {msg[0] if msg else f'exit status {rc}'}")
    return out
