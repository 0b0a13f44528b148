"""The `docker cp` worker: `python -m boxnet.runtime.cpworker SPEC` extracts
the tar on its stdin into a container (runtime/cp.py `put`) and answers one
JSON line on stdout: {"members": n} or {"status", "message"}; with
"mode": "get" it writes the tar of `path` to stdout instead (runtime/cp.py
`prepare_get`; a failure half-way is a line on stderr and exit 1).

SPEC is JSON: root, mounts ([destination, source, rw]...), readonly, path,
no_overwrite, owner ([uid, gid] or null).  Started by kernel/cpproc.py so the
extraction does not share the daemon's interpreter (see there why).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys

from boxnet.errors import BoxnetError
from boxnet.runtime import cp
from boxnet.runtime.cppath import ContainerFs, Mount


def widen_stdout() -> None:
    """The tar goes out through a 1 MiB pipe, not 64 KiB: fewer wake-ups of the
    daemon's loop per MiB (kernel/cpproc.py widens the other direction)."""
    try:
        fcntl.fcntl(1, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        return   # not a pipe, or a lower pipe-max-size: the default size works too


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def get(fs: ContainerFs, path: str) -> int:
    """Write the tar of `path` to stdout; 0, or 1 with the reason on stderr."""
    try:
        _, write = cp.prepare_get(fs, path)
        write(lambda chunk: _write_all(1, chunk))
    except (BoxnetError, OSError) as e:
        sys.stderr.write(f"{getattr(e, 'message', e)}\n")
        return 1
    return 0


def main(argv: list[str]) -> int:
    """Run one extraction (or, with "mode": "get", one archive); the exit code
    is 0 on success, 1 on a refusal."""
    spec = json.loads(argv[1])
    fs = ContainerFs(spec["root"], [Mount(*m) for m in spec["mounts"]],
                     readonly=bool(spec["readonly"]), skip=tuple(spec.get("skip", ())))
    if spec.get("mode") == "get":
        widen_stdout()
        return get(fs, spec["path"])
    owner = tuple(spec["owner"]) if spec.get("owner") else None
    try:
        n = cp.put(fs, spec["path"], sys.stdin.buffer.raw, bool(spec["no_overwrite"]), owner)
    except BoxnetError as e:
        answer = {"status": e.status, "message": e.message}
    except OSError as e:
        status = 403 if e.errno == errno.EROFS else 500
        answer = {"status": status, "message": "container rootfs is marked read-only"
                  if status == 403 else f"extraction failed: {e}"}
    else:
        answer = {"members": n}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0 if "members" in answer else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
