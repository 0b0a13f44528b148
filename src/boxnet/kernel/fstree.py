"""Removing big directory trees (a container's writable layer) without
stalling the daemon.

Why a child process: shutil.rmtree, even in a thread, runs its Python loop
around every unlink holding the GIL, and the event loop waits for it: with a
million files /_ping and DNS answers waited up to ~250 ms at a time
(measured in tests/integration/test_bounded.py).  `rm -rf` does the same
work in another process.  `--one-file-system` also keeps it out of anything
mounted below the tree (a root that did not unmount, a bind), which rmtree
would empty.
"""

from __future__ import annotations

import asyncio
import os

ERR_KEEP = 4096   # bytes of rm's complaints kept for the error message


async def remove_tree(path: str) -> None:
    """Remove `path` and everything under it on its filesystem (no error if it
    is absent).  OSError naming what rm said when something is left."""
    if not os.path.lexists(path):
        return
    proc = await asyncio.create_subprocess_exec(
        "rm", "-rf", "--one-file-system", "--", path,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    said = b""
    while chunk := await proc.stderr.read(65536):   # one line per failure: bounded here
        said += chunk[:ERR_KEEP - len(said)]
    if await proc.wait() != 0 and os.path.lexists(path):
        raise OSError(f"could not remove {path}: "
                      f"{said.decode(errors='replace').strip() or f'rm exited {proc.returncode}'}")
