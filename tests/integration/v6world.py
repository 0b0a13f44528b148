"""Shared set-up of the issue 18 (items 3, 4, 9) tests: the docker CLI pointed
at a TestHost, and an outside world reachable over IPv4 and IPv6 with a
peer-address server (netprobe.SERVER: it answers each client with the source
address it saw)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from integration.netprobe import SERVER, probe
from integration.outside import Outside

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
HOST4, HOST6, OUT4, OUT6 = "198.18.0.1", "fd00:198::1", "198.18.0.2", "fd00:198::2"
PEER = 7300


def docker(host, *args: str, check: bool = True, timeout: float = 60):
    """The real docker CLI against `host`'s boxnetd; AssertionError on failure if `check`."""
    if not os.access(DOCKER, os.X_OK):
        pytest.skip(f"the docker CLI is not installed ({DOCKER})")
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CLI_HINTS="false",
               DOCKER_CONFIG=str(host.dir / "dockercfg"))
    r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def dual_outside(host) -> Outside:
    """An outside netns on bxo0 with v4 and v6 addresses and default routes to the
    host, running the peer-address server on PEER (tcp/udp, both families)."""
    out = Outside(host)
    host.sh(f"ip addr add {HOST6}/64 dev bxo0 nodad")
    out.sh(f"ip addr add {OUT6}/64 dev eth0 nodad && ip -6 route add default via {HOST6}")
    out.popen([sys.executable, "-c", SERVER, str(PEER)])
    deadline = time.monotonic() + 20
    while probe(out.netns, "tcp", "127.0.0.1", PEER) is None:
        assert time.monotonic() < deadline, "the outside's peer server never answered"
        time.sleep(0.1)
    return out


def seen_from(netns: str, ip: str, port: int = PEER, tries: int = 10) -> str | None:
    """The source address a server at ip:port saw for a TCP connection from
    `netns` (retried: a first SYN may race the neighbour resolution), or None."""
    for _ in range(tries):
        got = probe(netns, "tcp", ip, port)
        if got:
            return got
    return None
