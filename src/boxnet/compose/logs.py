"""Output side of compose: `ps` rows, prefixed logs of several containers, interactive exec."""

from __future__ import annotations

import sys
import threading

from ..client.engine import Client
from ..client.errors import APIError
from ..client.streams import copy_output, demux, response_chunks, run_exec
from . import labels as L


def _ports(c: dict) -> str:
    out = []
    for p in c.get("Ports") or []:
        if p.get("PublicPort"):
            out.append(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->"
                       f"{p['PrivatePort']}/{p.get('Type', 'tcp')}")
        else:
            out.append(f"{p['PrivatePort']}/{p.get('Type', 'tcp')}")
    return ", ".join(out)


def ps_rows(containers: list[dict]) -> list[dict]:
    """docker compose ps rows (Name, Image, Command, Service, Status, Ports, ...)."""
    rows = []
    for c in containers:
        cmd = c.get("Command") or ""
        rows.append({"ID": c["Id"], "Name": (c.get("Names") or ["/"])[0].lstrip("/"),
                     "Image": c.get("Image", ""),
                     "Command": f'"{cmd[:20]}{"…" if len(cmd) > 20 else ""}"',
                     "Service": c["Labels"].get(L.SERVICE, ""), "State": c.get("State", ""),
                     "Status": c.get("Status", ""), "Ports": _ports(c),
                     "Project": c["Labels"].get(L.PROJECT, ""),
                     "Networks": ",".join((c.get("NetworkSettings") or {})
                                          .get("Networks", {}) or {})})
    return rows


class _Prefixed:
    """A binary sink that prefixes each line with `name  | `."""

    def __init__(self, prefix: str, dest, lock: threading.Lock):
        self.prefix, self.dest, self.lock, self.buf = prefix.encode(), dest, lock, b""

    def write(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        with self.lock:
            for line in lines:
                self.dest.write(self.prefix + line + b"\n")

    def flush(self) -> None:
        with self.lock:
            if self.buf:
                self.dest.write(self.prefix + self.buf + b"\n")
                self.buf = b""
            self.dest.flush()


def _one(client: Client, c: dict, width: int, follow_: bool, prefix: bool, tail: str,
         lock) -> None:
    name = (c.get("Names") or ["/"])[0].lstrip("/")
    pre = f"{name.ljust(width)} | " if prefix else ""
    try:
        resp = client.request("GET", f"/containers/{c['Id']}/logs",
                              {"follow": 1 if follow_ else None, "stdout": 1, "stderr": 1,
                               "tail": tail})
    except APIError:
        return
    out = _Prefixed(pre, sys.stdout.buffer, lock)
    err = _Prefixed(pre, sys.stderr.buffer, lock)
    raw = "raw-stream" in (resp.getheader("Content-Type") or "")
    try:
        copy_output(response_chunks(resp), raw, out, err)
    except OSError:
        pass
    out.flush()
    err.flush()
    resp.close()


def follow(client: Client, containers: list[dict], follow_: bool = False,
           prefix: bool = True, tail: str = "all") -> None:
    """Print the logs of several containers, each line prefixed with its container name."""
    width = max([len((c.get("Names") or ["/"])[0]) - 1 for c in containers] + [1])
    lock = threading.Lock()
    threads = [threading.Thread(target=_one, args=(client, c, width, follow_, prefix, tail,
                                                   lock), daemon=True) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)


def exec_interactive(client: Client, cid: str, cmd: list[str], tty: bool, detach: bool,
                     env: list[str], user: str, workdir: str) -> int:
    """`compose exec`: stdin/stdout wired to the terminal; return the exit code."""
    interactive = sys.stdin.isatty() and not detach
    body = {"AttachStdin": interactive, "AttachStdout": not detach,
            "AttachStderr": not detach, "Tty": tty, "Env": env or None, "User": user,
            "WorkingDir": workdir, "Cmd": cmd, "Detach": detach}
    return run_exec(client, cid, body)


__all__ = ["ps_rows", "follow", "exec_interactive", "demux"]
