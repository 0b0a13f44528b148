"""The Engine API calls compose makes, over boxnet's CLI client (never daemon code).

Thin helpers: list a project's containers and networks by label, inspect, and run a
command in a container collecting its output and exit code (for healthchecks and the
reachability probes of `compose check`).
"""

from __future__ import annotations

import json
import time
import urllib.parse

from ..client.engine import Client
from ..client.errors import APIError
from . import labels as L


def _filters(**kv) -> str:
    return json.dumps({k: v for k, v in kv.items() if v})


def containers(client: Client, project: str, service: str | None = None,
               all_: bool = True) -> list[dict]:
    """The project's (non one-off) containers, sorted by service then number."""
    items = client.get("/containers/json", all=1 if all_ else None,
                       filters=_filters(label=L.project_filter(project, service))) or []
    return sorted(items, key=lambda c: (c["Labels"].get(L.SERVICE, ""),
                                        int(c["Labels"].get(L.NUMBER, "0") or 0)))


def networks(client: Client, project: str) -> list[dict]:
    """The networks labelled with this project."""
    return client.get("/networks", filters=_filters(label=[f"{L.PROJECT}={project}"])) or []


def network(client: Client, name: str) -> dict | None:
    """Inspect a network by exact name; None when there is none."""
    try:
        nw = client.get("/networks/" + urllib.parse.quote(name, safe=""))   # names may hold spaces
    except APIError as e:
        if e.status == 404:
            return None
        raise
    return nw if nw.get("Name") == name else None


def inspect(client: Client, ref: str) -> dict:
    """Container inspect."""
    return client.get(f"/containers/{ref}/json")


def pull_image(client: Client, image: str) -> str:
    """`POST /images/create?fromImage=`: pull `image` (name[:tag] or
    name@digest) and return the daemon's final status line; an error in the
    progress stream raises APIError (500) with its message."""
    name, tag = image, ""
    if "@" in image:
        name, tag = image.split("@", 1)
    elif ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    resp = client.request("POST", "/images/create", {"fromImage": name, "tag": tag or "latest"})
    last = ""
    try:
        for line in resp:
            if not line.strip():
                continue
            msg = json.loads(line)
            if msg.get("error"):
                raise APIError(500, msg["error"])
            last = msg.get("status", last)
    finally:
        resp.close()
    return last


def image_exists(client: Client, image: str) -> bool:
    """Whether the daemon has the image locally."""
    try:
        client.get(f"/images/{image}/json")
        return True
    except APIError as e:
        if e.status == 404:
            return False
        raise


def exec_run(client: Client, ref: str, cmd: list[str], timeout: float = 30
             ) -> tuple[int | None, str, str]:
    """Run cmd in a running container; (exit code or None, stdout, stderr)."""
    from ..client.streams import STDERR, SYSTEMERR, demux   # not on up/down's path
    body = {"AttachStdout": True, "AttachStderr": True, "AttachStdin": False, "Tty": False,
            "Cmd": list(cmd)}
    exec_id = client.post(f"/containers/{ref}/exec", body)["Id"]
    stream = client.hijack("POST", f"/exec/{exec_id}/start", body={"Detach": False,
                                                                  "Tty": False})
    stream.sock.settimeout(timeout)
    out, err = [], []
    try:
        for kind, payload in demux(stream):
            (err if kind in (STDERR, SYSTEMERR) else out).append(payload)
    except OSError:
        err.append(b"(timed out)")
    finally:
        stream.close()
    code = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        info = client.get(f"/exec/{exec_id}/json")
        if not info.get("Running"):
            code = info.get("ExitCode")
            break
        time.sleep(0.05)
    return code, b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace")


def container_addresses(info: dict) -> dict[str, dict]:
    """{network name: {"ipv4", "ipv6", "aliases"}} from a container inspect."""
    out = {}
    for name, ep in ((info.get("NetworkSettings") or {}).get("Networks") or {}).items():
        out[name] = {"ipv4": ep.get("IPAddress") or "", "ipv6": ep.get("GlobalIPv6Address") or "",
                     "aliases": ep.get("Aliases") or [], "id": ep.get("NetworkID") or ""}
    return out
