"""The CNI reference plugins (containernetworking-plugins from Debian): bridge + host-local.

Driven as a container runtime would: CNI_COMMAND=ADD/DEL, CNI_CONTAINERID, CNI_NETNS,
CNI_IFNAME, CNI_PATH in the environment and the network config on stdin, run inside the
bench netns. host-local keeps its leases under the bench temp dir. ipMasq is on (the usual
set-up, and what Docker and netavark do per network).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from bench.peers.plugin import Net, PluginPeer

CNI_PATH = "/usr/lib/cni"


class CniPeer(PluginPeer):
    """CNI bridge plugin ADD/DEL of container netns on bridge networks."""

    name = "cni"

    def available(self) -> tuple[bool, str]:
        """Whether the bridge and host-local plugins are installed."""
        for p in ("bridge", "host-local"):
            if not Path(CNI_PATH, p).exists():
                return False, f"{CNI_PATH}/{p} missing (apt-get install containernetworking-plugins)"
        return True, ""

    def _conf(self, net: Net) -> str:
        return json.dumps({
            "cniVersion": "1.0.0", "name": net.name, "type": "bridge", "bridge": net.bridge,
            "isGateway": True, "ipMasq": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": str(net.subnet)}]],
                     "dataDir": str(self.host.tmp / "ipam")}})

    def _env(self, cmd: str, cid: str, pin: Path) -> dict:
        return {**os.environ, "CNI_COMMAND": cmd, "CNI_CONTAINERID": cid,
                "CNI_NETNS": str(pin), "CNI_IFNAME": "eth0", "CNI_PATH": CNI_PATH}

    def attach(self, net: Net, pin: Path) -> tuple[float, dict]:
        """CNI ADD (host-local picks the address); return (seconds, token for detach)."""
        cid = secrets.token_hex(32)
        t, out = self._exec([f"{CNI_PATH}/bridge"], self._conf(net), self._env("ADD", cid, pin))
        ip = json.loads(out)["ips"][0]["address"].split("/")[0]
        return t, {"cid": cid, "pin": pin, "ip": ip}

    def detach(self, net: Net, token: dict) -> float:
        """CNI DEL; return seconds."""
        return self._exec([f"{CNI_PATH}/bridge"], self._conf(net),
                          self._env("DEL", token["cid"], token["pin"]))[0]
