"""netavark (Podman's network stack, from Debian) driven directly, inside its bench netns.

`netavark --config DIR setup NETNS < options.json` and `teardown`, where options.json carries
container_id, container_name, networks (interface name and the static IPs the caller chose:
the caller does IPAM) and network_info (the network definition). netavark 1.4 writes its
rules with iptables; it runs under `nsenter --net`, so they land in the bench netns only.
DNS (aardvark-dns) is off for attach; scenario 4 turns it on (`dns_network`).
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

from bench.peers.plugin import Net, PluginPeer

CANDIDATES = ("/usr/lib/podman/netavark", "/usr/libexec/podman/netavark")
AARDVARK = "/usr/lib/podman/aardvark-dns"


def netavark_bin() -> str | None:
    """Path of the netavark binary, if installed."""
    for c in CANDIDATES:
        if Path(c).exists():
            return c
    return shutil.which("netavark")


class NetavarkPeer(PluginPeer):
    """netavark setup/teardown of container netns on bridge networks."""

    name = "netavark"

    def available(self) -> tuple[bool, str]:
        """Whether netavark is installed."""
        return (True, "") if netavark_bin() else (False, "netavark not installed")

    def _options(self, net: Net, cid: str, addr: str) -> str:
        return json.dumps({
            "container_id": cid,
            "container_name": f"c{cid[:12]}",
            "networks": {net.name: {"interface_name": "eth0",
                                    "static_ips": [addr.split("/")[0]]}},
            "network_info": {net.name: {
                "dns_enabled": False, "driver": "bridge", "id": net.id, "internal": False,
                "ipv6_enabled": False, "name": net.name, "network_interface": net.bridge,
                "subnets": [{"subnet": str(net.subnet), "gateway": str(net.gateway)}]}},
        })

    def attach(self, net: Net, pin: Path) -> tuple[float, dict]:
        """netavark setup; return (seconds, endpoint token for detach)."""
        cid = secrets.token_hex(32)
        addr = net.next_addr()
        opts = self._options(net, cid, addr)
        t, _ = self._exec([netavark_bin(), "--config", str(self.host.tmp / "config"),
                        "setup", str(pin)], opts)
        return t, {"opts": opts, "pin": pin, "ip": addr.split("/")[0]}

    def detach(self, net: Net, token: dict) -> float:
        """netavark teardown; return seconds."""
        return self._exec([netavark_bin(), "--config", str(self.host.tmp / "config"),
                           "teardown", str(token["pin"])], token["opts"])[0]

    def dns_network(self, names: list[str]) -> tuple[list[Path], str]:
        """A dns-enabled network with one pinned container netns per name (its alias),
        set up by netavark, which starts aardvark-dns on the network's gateway address
        (port 53) in the bench netns.  Returns the pins (in order) and the server
        address.  aardvark is torn down with the peer (its command line names our
        temp dir)."""
        conf = self.host.tmp / "config"
        conf.mkdir(parents=True, exist_ok=True)
        net = self.net_define("dns-net", 1)
        pins = []
        for name in names:
            pin = self.sandbox_new()
            opts = json.loads(self._options(net, secrets.token_hex(32), net.next_addr()))
            opts["container_name"] = name
            opts["networks"][net.name]["aliases"] = [name]
            opts["network_info"][net.name]["dns_enabled"] = True
            self._exec([netavark_bin(), "--config", str(conf), "--aardvark-binary", AARDVARK,
                        "setup", str(pin)], json.dumps(opts))
            pins.append(pin)
        return pins, str(net.gateway)
