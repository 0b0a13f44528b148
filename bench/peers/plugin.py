"""Shared parts of the peers that are plugins driven by the caller (netavark, CNI, raw floor).

They have no daemon and no IPAM of their own that a caller can skip: the bench plays the
container engine's part, so it hands out subnets and addresses itself, pins each container
netns (untimed), and times only the plugin's own call.
"""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
import time
from pathlib import Path

from bench.peers.host import BenchHost, pin_netns, unpin_netns

BASE = ipaddress.ip_network("10.64.0.0/10")
PREFIX = 20  # 4094 addresses per network: enough for 1000 containers on one network


def subnet_for(index: int) -> ipaddress.IPv4Network:
    """The index-th /20 of 10.64.0.0/10 (the same plan for every caller-driven peer)."""
    return ipaddress.ip_network((int(BASE.network_address) + index * 2 ** (32 - PREFIX), PREFIX))


class Net:
    """One bridge network as the caller sees it: name, id, bridge device, subnet, next host."""

    def __init__(self, name: str, index: int, bridge: str):
        self.name = name
        self.index = index
        self.id = secrets.token_hex(32)
        self.bridge = bridge
        self.subnet = subnet_for(index)
        self.gateway = self.subnet.network_address + 1
        self._next = 2

    def next_addr(self) -> str:
        """The next free address, as 'a.b.c.d/len' (the caller's IPAM)."""
        addr = self.subnet.network_address + self._next
        self._next += 1
        return f"{addr}/{self.subnet.prefixlen}"


class PluginPeer:
    """Base of netavark and CNI: a bench host, networks, and pinned container netns."""

    name = "plugin"
    kind = "plugin"

    def __init__(self):
        self.host = BenchHost(self.name)
        self._sb = 0

    def start(self) -> None:
        """Create the bench netns."""
        self.host.create()

    def stop(self) -> None:
        """Unpin our container netns and tear the bench host down."""
        for pin in sorted(self.host.tmp.glob("sb-*")):
            unpin_netns(pin)
        self.host.teardown()

    def net_define(self, name: str, index: int) -> Net:
        """A network (no kernel work: the plugin creates the bridge on the first attach)."""
        return Net(name, index, f"bxbr{index}")

    def sandbox_new(self) -> Path:
        """A new, pinned, empty container netns (untimed)."""
        self._sb += 1
        pin = self.host.tmp / f"sb-{self._sb}"
        pin_netns(pin)
        return pin

    def sandbox_remove(self, pin: Path) -> None:
        """Unpin a container netns."""
        unpin_netns(pin)

    def _exec(self, argv: list[str], stdin: str, env: dict | None = None) -> tuple[float, str]:
        """Run the plugin inside the bench netns; return (wall time, stdout); raise on failure."""
        t0 = time.perf_counter()
        res = subprocess.run(self.host.cmd(argv), input=stdin, capture_output=True, text=True,
                             env=env)
        t = time.perf_counter() - t0
        if res.returncode != 0:
            raise RuntimeError(f"{self.name}: {' '.join(argv[:3])} failed: "
                               f"{(res.stderr or res.stdout).strip()[:300]}")
        return t, res.stdout

    def rss(self) -> dict:
        """No daemon: nothing resident between calls."""
        return {"daemon_rss_kib": 0}
