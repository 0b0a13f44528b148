"""Scenario: CNI ADD/DEL through boxnet's CNI plugin vs the reference bridge plugin.

Both are timed around the plugin process, as a container runtime calls it (CNI_*
variables, the configuration on stdin), on a pinned empty netns, one untimed warm-up
then `reps` repetitions of ADD then DEL:
- boxnet: the Python launcher (`boxnet-cni install`) and the sh + curl one
  (`boxnet-cni install --shell`, label boxnet-sh) asking the peer's boxnetd for an
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
    subprocess.run([str(exe), "install", *(["--shell"] if shell else []), str(bindir), name],
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


def _measure_boxnet(ctx: Context, peer, reps: int, shell: bool) -> None:
    exe = _launcher(peer, shell)
    label = "boxnet-sh" if shell else "boxnet"
    conf = json.dumps({"cniVersion": "1.1.0", "name": "cnibench", "type": "boxnet",
                       "socket": str(peer.sock)})
    pin = peer.host.tmp / f"sb-{label}"
    pin_netns(pin)
    add, dele, ver = [], [], []
    try:
        for i in range(reps + 1):
            cid = f"{label}{i}"
            t_a = _boxnet_call(peer, exe, "ADD", conf, cid, pin)
            t_d = _boxnet_call(peer, exe, "DEL", conf, cid, pin)
            t_v = _boxnet_call(peer, exe, "VERSION", "", cid, pin)
            if i:
                add.append(t_a * MS)
                dele.append(t_d * MS)
                ver.append(t_v * MS)
    finally:
        unpin_netns(pin)
    ctx.metric("cni_add", "CNI ADD", "ms", label, add)
    ctx.metric("cni_del", "CNI DEL", "ms", label, dele)
    ctx.metric("cni_version", "CNI VERSION (plugin start-up only)", "ms", label, ver)


def _measure_ref(ctx: Context, peer, reps: int) -> None:
    net = peer.net_define("cnibench", 1)
    pin = peer.sandbox_new()
    add, dele = [], []
    for i in range(reps + 1):
        t_a, tok = peer.attach(net, pin)
        t_d = peer.detach(net, tok)
        if i:
            add.append(t_a * MS)
            dele.append(t_d * MS)
    ctx.metric("cni_add", "CNI ADD", "ms", peer.name, add)
    ctx.metric("cni_del", "CNI DEL", "ms", peer.name, dele)


def run(ctx: Context) -> dict:
    """Run the CNI plugin scenario: boxnet's plugin and the reference bridge plugin."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(10, 30)
    with ctx.peer("boxnet", None) as peer:
        if peer is not None:
            peer.create_network("cnibench", SUBNET)
            _measure_boxnet(ctx, peer, reps, shell=False)
            _measure_boxnet(ctx, peer, reps, shell=True)
    with ctx.peer("cni", CniPeer) as peer:
        if peer is not None:
            _measure_ref(ctx, peer, reps)
    m = ctx.median_of
    ctx.goal("CNI ADD through boxnet: below the reference bridge plugin's ADD",
             ratio(m("cni_add", "boxnet-sh"), m("cni_add", "cni")), 1.0,
             detail="the sh + curl launcher; ratio boxnet/bridge must be < 1")
    ctx.goal("CNI ADD through boxnet's Python launcher: below the bridge plugin's ADD",
             ratio(m("cni_add", "boxnet"), m("cni_add", "cni")), 1.0,
             detail="ratio boxnet/bridge must be < 1")
    ctx.note("boxnet-sh is /bin/sh + curl handing the raw invocation to boxnetd (checks run "
             "in the daemon); boxnet's Python plugin is a Python process (python -IS, stdlib only: http.client, json) "
             "that asks boxnetd, which plumbs the veth into the netns under its final name in one "
             "netlink message; the bridge plugin is one Go binary doing the netlink work itself, "
             "plus host-local's own process and file lock for the address.")
    return res
