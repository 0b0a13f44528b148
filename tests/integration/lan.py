"""A simulated LAN for the macvlan/ipvlan tests: underlay bridge, parent, LAN host.

    test host netns             underlay netns (bxt-...)        LAN host netns (bxt-...)
    +-------------+             +--------------------+          +--------------------+
    | eth1 (veth) |-------------| u-host    br0      |          |                    |
    |  parent of  |             |   \\______/ \\_____| u-lanhost|------ eth0          |
    |  macvlan    |             +--------------------+          | 198.19.10x.1/24    |
    +-------------+                                              | (the LAN's router) |
                                                                 +--------------------+

The LAN host holds the gateway address of every test subnet and forwards between
them, so it plays "the LAN's router" too. Addresses come from 198.18.0.0/15
(benchmarking range). Plain module (no pytest) so bench/ can reuse it.
"""

from __future__ import annotations

import json
import subprocess

from .harness import delete_netns, new_netns, run


class Lan:
    """An underlay bridge joining a parent interface in `host_netns` and a LAN host."""

    __test__ = False

    def __init__(self, host_netns: str, parent: str = "eth1",
                 router_addrs: tuple[str, ...] = ("198.19.100.1/24",),
                 host_addrs: tuple[str, ...] = ()) -> None:
        """Build the LAN; `host_addrs` go on the parent in the host netns."""
        self.host_netns = host_netns   # a name under /run/netns
        self.parent = parent
        self.underlay = new_netns()
        self.lanhost = new_netns()
        try:
            self._build(router_addrs, host_addrs)
        except BaseException:
            self.teardown()
            raise

    def _build(self, router_addrs, host_addrs) -> None:
        u, h = self.underlay, self.lanhost
        run(["ip", "-n", u, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", u, "link", "set", "br0", "up"])
        self.add_parent(self.parent, "u-host", host_addrs)
        run(["ip", "-n", u, "link", "add", "u-lanhost", "type", "veth", "peer", "name", "eth0",
             "netns", h])
        run(["ip", "-n", u, "link", "set", "u-lanhost", "master", "br0", "up"])
        for a in router_addrs:
            run(["ip", "-n", h, "addr", "add", a, "dev", "eth0"])
        run(["ip", "-n", h, "link", "set", "eth0", "up"])
        self.sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"])

    def add_parent(self, name: str, port: str, addrs=()) -> None:
        """One more parent interface `name` in the host netns, port `port` on br0."""
        run(["ip", "-n", self.underlay, "link", "add", port, "type", "veth", "peer", "name",
             name, "netns", self.host_netns])
        run(["ip", "-n", self.underlay, "link", "set", port, "master", "br0", "up"])
        for a in addrs:
            run(["ip", "-n", self.host_netns, "addr", "add", a, "dev", name])
        run(["ip", "-n", self.host_netns, "link", "set", name, "up"])

    def sh(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """Run a command in the LAN host netns."""
        return run(["nsenter", f"--net=/run/netns/{self.lanhost}", *argv], check=check)

    def ping(self, ip: str, tries: int = 3) -> bool:
        """Whether the LAN host gets an answer from ip."""
        return any(self.sh(["ping", "-c1", "-W1", ip], check=False).returncode == 0
                   for _ in range(tries))

    def neighbours(self) -> dict[str, str]:
        """The LAN host's neighbour table: IP -> MAC (reachable/stale entries)."""
        out = json.loads(self.sh(["ip", "-j", "neigh", "show", "dev", "eth0"]).stdout or "[]")
        return {n["dst"]: n["lladdr"] for n in out if n.get("lladdr")}

    def hairpin(self, port: str, on: bool) -> None:
        """Reflect frames back out of `port` (what a VEPA-capable switch does)."""
        run(["ip", "-n", self.underlay, "link", "set", port, "type", "bridge_slave",
             "hairpin", "on" if on else "off"])

    def teardown(self) -> None:
        """Delete the LAN host and the underlay (the veth pairs go with them)."""
        delete_netns(self.lanhost)
        delete_netns(self.underlay)
