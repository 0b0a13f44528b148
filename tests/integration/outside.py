"""The "outside world" of a test host: a netns joined to it by a veth pair.

Masquerade, published ports and upstream DNS are checked against it (a stub
DNS or HTTP server runs there).  Plain module, reusable from bench/.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .harness import STARTED_PIDS, TestHost, delete_netns, new_netns, run


class Outside:
    """An "outside world" netns joined to a TestHost by a veth pair.

    Host side `host_ifname` with `host_addr`, outside side `eth0` with `addr`
    and a default route to the host.  Addresses come from 198.18.0.0/15
    (benchmarking range) so they never clash with Docker's pools.
    """

    __test__ = False

    def __init__(self, host: TestHost, host_addr: str = "198.18.0.1/30",
                 addr: str = "198.18.0.2/30", host_ifname: str = "bxo0") -> None:
        """Create the netns and the veth pair; addresses up on both ends."""
        self.host = host
        self.name = new_netns()
        self.netns = f"/run/netns/{self.name}"
        self.host_ifname = host_ifname
        self.host_ip = host_addr.split("/")[0]
        self.ip = addr.split("/")[0]
        self.procs: list[subprocess.Popen] = []
        # Created directly inside the host netns: nothing ever appears in the root netns.
        run(["ip", "-n", host.name, "link", "add", host_ifname, "type", "veth",
             "peer", "name", "eth0", "netns", self.name])
        run(["ip", "-n", host.name, "addr", "add", host_addr, "dev", host_ifname])
        run(["ip", "-n", host.name, "link", "set", host_ifname, "up"])
        run(["ip", "-n", self.name, "addr", "add", addr, "dev", "eth0"])
        run(["ip", "-n", self.name, "link", "set", "eth0", "up"])
        run(["ip", "-n", self.name, "route", "add", "default", "via", self.host_ip])
        host.outsides.append(self)

    def sh(self, cmd: str | list[str], check: bool = True,
           timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command (string: through sh -c) inside the outside netns."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return run(["nsenter", f"--net={self.netns}", *argv], check=check, timeout=timeout)

    def popen(self, argv: list[str], log: Path | None = None) -> subprocess.Popen:
        """Start a background server in the outside netns (killed at teardown)."""
        out = open(log or (self.host.dir / f"{self.name}.log"), "ab")
        p = subprocess.Popen(["nsenter", f"--net={self.netns}", *argv], stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        out.close()
        STARTED_PIDS.add(p.pid)
        self.procs.append(p)
        return p

    def teardown(self) -> None:
        """Kill our servers (by PID), delete the netns (and so the veth pair)."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        delete_netns(self.name)
        if self in self.host.outsides:
            self.host.outsides.remove(self)
