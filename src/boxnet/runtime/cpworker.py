"""The `docker cp` worker: `python -m boxnet.runtime.cpworker SPEC` extracts
the tar on its stdin into a container (runtime/cp.py `put`) and answers one
JSON line on stdout: {"members": n} or {"status", "message"}; with
"mode": "get" it writes the tar of `path` to stdout instead (runtime/cp.py
`prepare_get`; a failure half-way is a line on stderr and exit 1).
`python -m boxnet.runtime.cpworker --wait FD` is the warm spare: imported,
it waits for SPEC on the control socket FD (kernel/cpproc.py).

SPEC is JSON: root, mounts ([destination, source, rw]...), readonly, path,
no_overwrite, owner ([uid, gid] or null); for "get", sock_fd: the client's
socket to write the tar onto as HTTP chunks (runtime/cpsend.py), or absent:
stdout.  Started by kernel/cpproc.py so the extraction does not share the
daemon's interpreter (see there why).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys

from boxnet.errors import BoxnetError
from boxnet.runtime import cp, cpsend
from boxnet.runtime.cppath import ContainerFs, Mount


def widen_stdout() -> None:
    """The tar goes out through a 1 MiB pipe, not 64 KiB: fewer wake-ups of the
    daemon's loop per MiB (kernel/cpproc.py widens the other direction)."""
    try:
        fcntl.fcntl(1, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        return   # not a pipe, or a lower pipe-max-size: the default size works too


def get(fs: ContainerFs, path: str, sock_fd: int | None = None) -> int:
    """Write the tar of `path` to stdout, or as HTTP chunks onto the client's
    socket `sock_fd` (the daemon sent the headers and sends the last chunk);
    0, or 1 with the reason on stderr."""
    try:
        _, write = cp.prepare_get(fs, path)
        write(out=cpsend.Out(1, chunked=False) if sock_fd is None else
              cpsend.Out(sock_fd, chunked=True))
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
        return get(fs, spec["path"], spec.get("sock_fd"))
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


def wait_spec(ctl_fd: int) -> list[str] | None:
    """The warm spare's wait (kernel/cpproc.py): one message on the control
    socket `ctl_fd` is the SPEC, with the client's socket as SCM_RIGHTS for a
    direct GET; None when the socket ends unused (the daemon went)."""
    ctl = socket.socket(fileno=ctl_fd)
    try:
        msg, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 1)
    finally:
        ctl.close()
    if not msg:
        return None
    spec = json.loads(msg)
    if "sock_fd" in spec:
        if not fds:
            raise SystemExit("cp worker: a direct GET came without its socket")
        spec["sock_fd"] = fds[0]
    return ["cpworker", json.dumps(spec)]


def _exit(code: int) -> None:
    """Leave without the interpreter's teardown (module and object freeing:
    10-20 ms the daemon would wait for, as it answers once our pipes end)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--wait"]:
        args = wait_spec(int(sys.argv[2]))
        _exit(0 if args is None else main(args))
    _exit(main(sys.argv))
