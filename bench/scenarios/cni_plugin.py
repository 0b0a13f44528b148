"""Scenario: CNI ADD/DEL through boxnet's CNI plugin vs the reference bridge plugin.

All are timed around the plugin process, as a container runtime calls it (CNI_*
variables, the configuration on stdin), on a pinned empty netns, one untimed warm-up
then `reps` repetitions of ADD then DEL, the peers interleaved within each repetition:
- boxnet: the sh + curl launcher (`boxnet-cni install --shell`, label boxnet-sh, the
  default of `boxnet-cni install`) and the Python one (`--python`, label boxnet),
  both handing the invocation to the peer's boxnetd, which makes an
  endpoint on a bridge network made through the Engine API (boxnetd's IPAM, nftables);
- cni: /usr/lib/cni/bridge with host-local IPAM and ipMasq (bench/peers/cni.py).
Also measured: the launcher's VERSION (the Python start-up with no daemon work).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.context import Context
from bench.peers.cni import CniPeer
from bench.peers.host import pin_netns, unpin_netns
from bench.stats import ratio

NAME = "cni_plugin"
TITLE = "CNI plugin ADD"
MS = 1000.0
SUBNET = "10.210.0.0/16"


def _launcher(peer, shell: bool) -> str:
    """Install a boxnet launcher (Python, or sh + curl) into the peer's temp dir."""
    bindir = peer.host.tmp / "cnibin"
    bindir.mkdir(exist_ok=True)
    exe = Path(sys.executable).with_name("boxnet-cni")
    name = "boxnet-sh" if shell else "boxnet"
    subprocess.run([str(exe), "install", "--shell" if shell else "--python", str(bindir), name],
                   check=True, capture_output=True)
    return str(bindir / name)


def _boxnet_call(peer, exe: str, cmd: str, conf: str, cid: str, pin: Path) -> float:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": cmd,
           "CNI_CONTAINERID": cid, "CNI_NETNS": str(pin), "CNI_IFNAME": "eth0",
           "CNI_PATH": str(Path(exe).parent)}
    import time
    t0 = time.perf_counter()
    res = subprocess.run(peer.host.cmd([exe]), input=conf, capture_output=True, text=True, env=env)
    t = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"boxnet CNI {cmd} failed: {res.stdout.strip()[:300]}")
    return t


class _BoxnetRunner:
    """One boxnet launcher: ADD, DEL and VERSION of one repetition per ``once``."""

    def __init__(self, peer, shell: bool):
        self.peer, self.exe = peer, _launcher(peer, shell)
        self.label = "boxnet-sh" if shell else "boxnet"
        # compact JSON, as a runtime's libcni (Go's encoder) passes it
        self.conf = json.dumps({"cniVersion": "1.1.0", "name": "cnibench", "type": "boxnet",
                                "socket": str(peer.sock)}, separators=(",", ":"))
        self.pin = peer.host.tmp / f"sb-{self.label}"
        pin_netns(self.pin)
        self.add, self.dele, self.ver, self.i = [], [], [], 0

    def once(self, keep: bool) -> None:
        self.i += 1
        cid = f"{self.label}{self.i}"
        t_a = _boxnet_call(self.peer, self.exe, "ADD", self.conf, cid, self.pin)
        t_d = _boxnet_call(self.peer, self.exe, "DEL", self.conf, cid, self.pin)
        t_v = _boxnet_call(self.peer, self.exe, "VERSION", "", cid, self.pin)
        if keep:
            self.add.append(t_a * MS)
            self.dele.append(t_d * MS)
            self.ver.append(t_v * MS)

    def close(self) -> None:
        unpin_netns(self.pin)

    def report(self, ctx: Context) -> None:
        ctx.metric("cni_add", "CNI ADD", "ms", self.label, self.add)
        ctx.metric("cni_del", "CNI DEL", "ms", self.label, self.dele)
        ctx.metric("cni_version", "CNI VERSION (plugin start-up only)", "ms", self.label, self.ver)


class _RefRunner:
    """The reference bridge plugin (bench/peers/cni.py): ADD and DEL per ``once``."""

    def __init__(self, peer):
        self.peer = peer
        self.net = peer.net_define("cnibench", 1)
        self.pin = peer.sandbox_new()
        self.add, self.dele = [], []

    def once(self, keep: bool) -> None:
        t_a, tok = self.peer.attach(self.net, self.pin)
        t_d = self.peer.detach(self.net, tok)
        if keep:
            self.add.append(t_a * MS)
            self.dele.append(t_d * MS)

    def close(self) -> None:
        """The peer unpins its netns at stop."""

    def report(self, ctx: Context) -> None:
        ctx.metric("cni_add", "CNI ADD", "ms", self.peer.name, self.add)
        ctx.metric("cni_del", "CNI DEL", "ms", self.peer.name, self.dele)


def run(ctx: Context) -> dict:
    """Run the CNI plugin scenario: boxnet's two launchers and the reference bridge
    plugin, interleaved repetition by repetition (the machine's load hits all alike)."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(10, 30)
    with ctx.peer("boxnet", None) as bx, ctx.peer("cni", CniPeer) as ref:
        runners = []
        try:
            if bx is not None:
                bx.create_network("cnibench", SUBNET)
                runners += [_BoxnetRunner(bx, False), _BoxnetRunner(bx, True)]
            if ref is not None:
                runners.append(_RefRunner(ref))
            for i in range(reps + 1):
                for r in runners:
                    r.once(keep=i > 0)
        finally:
            for r in runners:
                r.close()
        for r in runners:
            r.report(ctx)
    m = ctx.median_of
    ctx.goal("CNI ADD through boxnet: below the reference bridge plugin's ADD",
             ratio(m("cni_add", "boxnet-sh"), m("cni_add", "cni")), 1.0,
             detail="the sh + curl launcher, boxnet-cni install's default; "
                    "ratio boxnet/bridge must be < 1")
    ctx.goal("CNI ADD through boxnet's Python launcher: below the bridge plugin's ADD",
             ratio(m("cni_add", "boxnet"), m("cni_add", "cni")), 1.0,
             detail="ratio boxnet/bridge must be < 1")
    ctx.note("boxnet-sh is /bin/sh + curl, boxnet python -IS with cni/launcher.py alone "
             "(sys, posix, _socket); both hand the raw invocation to boxnetd in one request "
             "(checks run in the daemon), which plumbs the veth into the netns under its final "
             "name in one netlink message; the bridge plugin is one Go binary doing the netlink "
             "work itself, plus host-local's own process and file lock for the address.")
    return res
