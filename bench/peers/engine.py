"""A minimal Docker Engine API client over a unix socket, and the peer base for daemons.

The SAME client code drives Docker's dockerd and boxnet's boxnetd: both speak the Engine API.
It is a thin http.client wrapper (keep-alive, JSON), so that the client's own overhead is
small and identical for both daemons.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import json
import socket
import time
import urllib.parse
from pathlib import Path

from bench.peers import images
from bench.peers.host import BenchHost, descendants, pids_mentioning, proc_name, rss_kib


class EngineError(RuntimeError):
    """A non-2xx answer from the Engine API."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class EngineClient:
    """Engine API calls over one keep-alive unix-socket connection."""

    def __init__(self, sock_path: str, timeout: float = 120.0):
        self.sock_path = sock_path
        self.timeout = timeout
        self._conn: _UnixConnection | None = None

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body=None, query: dict | None = None,
                raw: bytes | None = None, ctype: str = "application/json"):
        """Send one request; return the decoded JSON (or text, or None). Raise EngineError."""
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {}
        data = None
        if raw is not None:
            data, headers["Content-Type"] = raw, ctype
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = _UnixConnection(self.sock_path, self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=headers)
                resp = self._conn.getresponse()
                payload = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        if resp.status >= 300:
            try:
                msg = json.loads(payload).get("message", payload.decode(errors="replace"))
            except (ValueError, AttributeError):
                msg = payload.decode(errors="replace")
            raise EngineError(resp.status, msg)
        if not payload:
            return None
        if resp.getheader("Content-Type", "").startswith("application/json"):
            return json.loads(payload)
        return payload.decode(errors="replace")

    def ping(self) -> bool:
        """True when GET /_ping answers OK."""
        try:
            return str(self.request("GET", "/_ping")).strip() == "OK"
        except (OSError, EngineError, http.client.HTTPException):
            self.close()
            return False


class EnginePeer:
    """Base of the daemon peers (docker, boxnet): start the daemon in its netns, then drive it."""

    name = "engine"
    kind = "engine"
    daemon_names: tuple[str, ...] = ()

    def __init__(self):
        self.host = BenchHost(self.name)
        self.sock = str(self.host.tmp / "engine.sock")
        self.api = EngineClient(self.sock)
        self.proc = None
        self.log_path = self.host.tmp / "daemon.log"

    # -- lifecycle -------------------------------------------------------------------------
    def daemon_argv(self) -> list[str]:
        """The daemon's command line (subclasses)."""
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> None:
        """Create the bench netns, start the daemon inside it, wait for /_ping, import busybox."""
        self.host.create()
        log = open(self.log_path, "wb")
        self.proc = self.host.popen(self.daemon_argv(), stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.api.ping():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} daemon exited ({self.proc.returncode}): "
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} daemon not ready in {timeout}s: {self.log_tail()}")
            time.sleep(0.1)
        self.ensure_busybox()

    def log_tail(self, n: int = 8) -> str:
        """The last lines of the daemon's log."""
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def ensure_busybox(self) -> None:
        """Import the busybox rootfs as busybox:latest unless the daemon already has it."""
        try:
            self.api.request("GET", "/images/busybox:latest/json")
            return
        except EngineError as e:
            if e.status != 404:
                raise
        self.api.request("POST", "/images/create", raw=images.rootfs_tar(),
                         ctype="application/x-tar",
                         query={"fromSrc": "-", "repo": "busybox", "tag": "latest"})

    def stop(self) -> None:
        """Remove every container, stop the daemon (by PID) and tear the bench host down."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                for c in self.api.request("GET", "/containers/json", query={"all": 1}) or []:
                    try:
                        self.api.request("DELETE", f"/containers/{c['Id']}", query={"force": 1})
                    except EngineError:
                        pass
        except (OSError, EngineError):
            pass
        self.api.close()
        self.host.teardown()

    # -- the uniform, timed operations the scenarios share with the other peers ------------
    def net_create(self, name: str, index: int, subnet: str | None = None) -> tuple[float, str]:
        """Timed network create (pool-allocated subnet unless given); (seconds, id)."""
        t0 = time.perf_counter()
        nid = self.create_network(name, subnet)
        return time.perf_counter() - t0, nid

    def net_remove(self, net: str) -> float:
        """Timed network remove; seconds."""
        t0 = time.perf_counter()
        self.remove_network(net)
        return time.perf_counter() - t0

    def sandbox_new(self) -> str:
        """A running busybox container on the default bridge (untimed): the attach target."""
        self._sb = getattr(self, "_sb", 0) + 1
        return self.run_container(f"sb{self._sb}", "bridge")

    def sandbox_remove(self, cid: str) -> None:
        """Remove a container made by sandbox_new."""
        self.remove_container(cid)

    def attach(self, net: str, cid: str) -> tuple[float, tuple]:
        """Timed `network connect` of a running container; (seconds, token)."""
        t0 = time.perf_counter()
        self.connect(net, cid)
        return time.perf_counter() - t0, (net, cid)

    def detach(self, net: str, token: tuple) -> float:
        """Timed `network disconnect`; seconds."""
        t0 = time.perf_counter()
        self.disconnect(*token)
        return time.perf_counter() - t0

    # -- plain operations ----------------------------------------------------------------
    def create_network(self, name: str, subnet: str | None = None) -> str:
        """POST /networks/create (bridge driver); return the id."""
        body = {"Name": name, "Driver": "bridge"}
        if subnet:
            body["IPAM"] = {"Config": [{"Subnet": subnet}]}
        return self.api.request("POST", "/networks/create", body=body)["Id"]

    def remove_network(self, net: str) -> None:
        """DELETE /networks/{id}."""
        self.api.request("DELETE", f"/networks/{net}")

    def run_container(self, name: str, network: str, cmd=("sleep", "3600")) -> str:
        """`run -d busybox sleep`: create then start; return the id."""
        cid = self.api.request("POST", "/containers/create", query={"name": name}, body={
            "Image": "busybox:latest", "Cmd": list(cmd),
            "HostConfig": {"NetworkMode": network}})["Id"]
        self.api.request("POST", f"/containers/{cid}/start")
        return cid

    def remove_container(self, cid: str) -> None:
        """DELETE /containers/{id}?force=1."""
        self.api.request("DELETE", f"/containers/{cid}", query={"force": 1})

    def connect(self, net: str, cid: str) -> None:
        """POST /networks/{id}/connect."""
        self.api.request("POST", f"/networks/{net}/connect", body={"Container": cid})

    def disconnect(self, net: str, cid: str) -> None:
        """POST /networks/{id}/disconnect."""
        self.api.request("POST", f"/networks/{net}/disconnect", body={"Container": cid})

    def list_containers(self) -> list:
        """GET /containers/json."""
        return self.api.request("GET", "/containers/json")

    def list_networks(self) -> list:
        """GET /networks."""
        return self.api.request("GET", "/networks")

    def inspect_container(self, cid: str) -> dict:
        """GET /containers/{id}/json."""
        return self.api.request("GET", f"/containers/{cid}/json")

    def inspect_network(self, net: str) -> dict:
        """GET /networks/{id}."""
        return self.api.request("GET", f"/networks/{net}")

    def container_netns(self, cid: str) -> str:
        """A path to the container's netns (/proc/<pid>/ns/net of its main process)."""
        return f"/proc/{self.inspect_container(cid)['State']['Pid']}/ns/net"

    def container_ip(self, cid: str, net_name: str) -> str:
        """The container's IPv4 address on the named network."""
        nets = self.inspect_container(cid)["NetworkSettings"]["Networks"]
        return nets[net_name]["IPAddress"]

    def rss(self) -> dict:
        """RSS in KiB: the daemon processes; and all it started (shims too) minus the containers."""
        if self.proc is None:
            return {}
        family = {self.proc.pid, *descendants(self.proc.pid), *pids_mentioning(str(self.host.tmp))}
        family.discard(os.getpid())
        daemon = sum(rss_kib(p) for p in family if proc_name(p) in self.daemon_names)
        tree = sum(rss_kib(p) for p in family if proc_name(p) not in ("sleep", "busybox"))
        return {"daemon_rss_kib": daemon, "tree_rss_kib": tree}
