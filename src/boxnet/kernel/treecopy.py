"""Copying a directory tree with everything kept (owners, modes, links, times,
xattrs), for `docker commit` (a container's merged root becomes an image).

Why `cp -a` in a child process: a Python copy loop holds the GIL around every
file and would stall the event loop (see kernel/fstree.py); coreutils' cp also
keeps hard links, sparse files and xattrs.  `--one-file-system` keeps out
anything mounted below the source (a bind that did not unmount).
"""

from __future__ import annotations

import subprocess

ERR_KEEP = 4096


def copy_tree(src: str, dst: str) -> None:
    """Copy the contents of directory `src` into the existing directory `dst`.
    Blocking (call it from a worker thread); OSError naming what cp said."""
    r = subprocess.run(["cp", "-a", "--one-file-system", "--", src.rstrip("/") + "/.", dst],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        said = r.stderr[:ERR_KEEP].decode(errors="replace").strip()
        raise OSError(f"could not copy {src} to {dst}: {said or f'cp exited {r.returncode}'}")
