"""Scenario 6, macvlan attach: connect/disconnect on a macvlan network.

Every peer runs in its own bench netns, where a veth end `eth1` (peer `eth1p`, both
up) plays the LAN parent. Measured, one untimed warm-up then `reps` repetitions:
- boxnet and Docker: `network connect`/`disconnect` of a running busybox container to
  a macvlan network (`-o parent=eth1`, bridge mode), through the Engine API;
- the CNI reference macvlan plugin (/usr/lib/cni/macvlan, host-local IPAM): ADD/DEL
  of a pinned empty netns, timed around the plugin process as a runtime calls it.
No traffic leaves the bench namespaces (the parent's peer leads nowhere).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.context import Context
from bench.peers.cni import CNI_PATH, CniPeer
from bench.stats import ratio

NAME = "macvlan"
TITLE = "6. macvlan attach"
MS = 1000.0
SUBNET = "10.200.0.0/24"


def add_parent(peer) -> None:
    """The LAN parent `eth1` inside the peer's bench netns."""
    for argv in (["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"],
                 ["ip", "link", "set", "eth1", "up"], ["ip", "link", "set", "eth1p", "up"]):
        res = peer.host.run(argv)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")


class CniMacvlan(CniPeer):
    """The CNI macvlan plugin (master eth1, bridge mode) with host-local IPAM."""

    def available(self) -> tuple[bool, str]:
        """Whether the macvlan and host-local plugins are installed."""
        for p in ("macvlan", "host-local"):
            if not Path(CNI_PATH, p).exists():
                return False, f"{CNI_PATH}/{p} missing (apt-get install containernetworking-plugins)"
        return True, ""

    def _conf(self, net) -> str:
        return json.dumps({
            "cniVersion": "1.0.0", "name": "mv", "type": "macvlan", "master": "eth1",
            "mode": "bridge",
            "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]],
                     "dataDir": str(self.host.tmp / "ipam")}})

    def attach(self, net, pin: Path) -> tuple[float, dict]:
        """CNI ADD with the macvlan plugin; (seconds, token)."""
        tok = {"cid": f"mv{pin.name}", "pin": pin}
        t, _ = self._exec([f"{CNI_PATH}/macvlan"], self._conf(net),
                          self._env("ADD", tok["cid"], pin))
        return t, tok

    def detach(self, net, token: dict) -> float:
        """CNI DEL with the macvlan plugin; seconds."""
        return self._exec([f"{CNI_PATH}/macvlan"], self._conf(net),
                          self._env("DEL", token["cid"], token["pin"]))[0]


def _engine_net(peer) -> str:
    return peer.api.request("POST", "/networks/create", body={
        "Name": "mv", "Driver": "macvlan", "Options": {"parent": "eth1"},
        "IPAM": {"Config": [{"Subnet": SUBNET}]}})["Id"]


def _measure(ctx: Context, peer, reps: int) -> None:
    add_parent(peer)
    if peer.kind == "engine":
        net = _engine_net(peer)
        sandbox = peer.sandbox_new()
    else:
        net = peer.net_define("mv", 1)
        sandbox = peer.sandbox_new()
    att, det = [], []
    for i in range(reps + 1):
        t_a, tok = peer.attach(net, sandbox)
        t_d = peer.detach(net, tok)
        if i:
            att.append(t_a * MS)
            det.append(t_d * MS)
    ctx.metric("mv_attach", "macvlan attach (connect / ADD)", "ms", peer.name, att)
    ctx.metric("mv_detach", "macvlan detach (disconnect / DEL)", "ms", peer.name, det)


def run(ctx: Context) -> dict:
    """Run the macvlan scenario against boxnet, Docker and CNI's macvlan plugin."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(10, 30)
    for name, factory in (("boxnet", None), ("docker", None), ("cni", CniMacvlan)):
        with ctx.peer(name, factory) as peer:
            if peer is not None:
                _measure(ctx, peer, reps)
    m = ctx.median_of
    ctx.goal("macvlan attach: below CNI's macvlan ADD",
             ratio(m("mv_attach", "boxnet"), m("mv_attach", "cni")), 1.0,
             detail="ratio boxnet/CNI must be < 1")
    ctx.goal("macvlan attach: at most a quarter of Docker's",
             ratio(m("mv_attach", "boxnet"), m("mv_attach", "docker")), 0.25)
    ctx.note("boxnet creates each macvlan link directly inside the container netns under "
             "its final name (one RTM_NEWLINK); CNI's plugin creates it there under a temporary "
             "name and renames it; Docker creates it in the host, then its sandbox code "
             "moves and renames it. Engines are timed around their Engine "
             "API call (the connect target is a running busybox container); CNI around its "
             "plugin process on a pinned empty netns.")
    return res
