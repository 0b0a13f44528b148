"""Scenario 3, data plane: iperf3 container to container on one bridge network.

For every peer: two containers on one network, iperf3 (the host's binary) run with
`nsenter --net=<container netns>` on both sides (the same program for every peer), with
1 network present and then with 100. The host loopback inside a bench netns is the ceiling.
Traffic stays inside the bench namespaces; each run is bounded (-t 3 quick, -t 10 full).
Samples are iperf3's one-second intervals. The published-port part comes with the firewall.
"""

from __future__ import annotations

import json
import subprocess
import time

from bench.context import Context
from bench.stats import ratio

NAME = "dataplane"
TITLE = "3. Data plane (iperf3)"
PEERS = ("rawfloor", "boxnet", "docker", "netavark", "cni")
PORT = 5201


def iperf(server_ns: str, client_ns: str, ip: str, seconds: int) -> list[float]:
    """One bounded iperf3 TCP run; return the per-interval throughputs in Gbit/s."""
    server = subprocess.Popen(["nsenter", f"--net={server_ns}", "iperf3", "-s",
                               "-p", str(PORT)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        out = None
        for _ in range(50):  # wait for the server socket (at most ~5 s)
            res = subprocess.run(["nsenter", f"--net={client_ns}", "iperf3", "-c", ip, "-p",
                                  str(PORT), "-t", str(seconds), "-J"],
                                 capture_output=True, text=True, timeout=seconds + 30)
            try:
                data = json.loads(res.stdout)
            except ValueError:
                data = {}
            # A client that raced the server's listen() gets an "error" (sometimes exit 0).
            if res.returncode == 0 and not data.get("error") and data.get("intervals"):
                out = data
                break
            time.sleep(0.1)
        if out is None:
            raise RuntimeError(f"iperf3 to {ip} failed: {res.stdout[-300:]} {res.stderr[-200:]}")
        return [iv["sum"]["bits_per_second"] / 1e9 for iv in out["intervals"]]
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()


def _pair(peer):
    """Two containers on a fresh network: (server netns, client netns, server IP, net)."""
    if peer.kind == "engine":
        _, net = peer.net_create("dp-net", 0)
        a = peer.run_container("dp-a", "dp-net")
        b = peer.run_container("dp-b", "dp-net")
        return peer.container_netns(a), peer.container_netns(b), \
            peer.container_ip(a, "dp-net"), net
    if peer.kind == "floor":
        _, net = peer.net_create("dp-net", 0)
    else:
        net = peer.net_define("dp-net", 0)
    pa, pb = peer.sandbox_new(), peer.sandbox_new()
    _, ta = peer.attach(net, pa)
    peer.attach(net, pb)
    return str(pa), str(pb), ta["ip"], net


def _more_networks(peer, count: int) -> None:
    """Add `count` networks (for netavark/CNI: each gets one attached netns, which is what
    makes their bridge and rules exist)."""
    for i in range(1, count + 1):
        if peer.kind in ("engine", "floor"):
            peer.net_create(f"dp-extra-{i}", i)
        else:
            peer.attach(peer.net_define(f"dp-extra-{i}", i), peer.sandbox_new())


def run(ctx: Context) -> dict:
    """Run scenario 3 against every peer; return its results."""
    res = ctx.begin(NAME, TITLE)
    secs = ctx.pick(3, 10)
    reps = ctx.repetitions(2, 3)
    label1, label100 = "container to container, 1 network", "container to container, 100 networks"
    for name in PEERS:
        with ctx.peer(name) as peer:
            if peer is None:
                continue
            if name == "rawfloor":
                lo = peer.host.netns_path
                ctx.metric("loopback", "host loopback (ceiling)", "Gbit/s", "loopback",
                           sum((iperf(lo, lo, "127.0.0.1", secs) for _ in range(reps)), []),
                           higher_is_better=True)
            srv, cli, ip, _ = _pair(peer)
            ctx.metric("c2c_1", label1, "Gbit/s", name,
                       sum((iperf(srv, cli, ip, secs) for _ in range(reps)), []),
                       higher_is_better=True)
            _more_networks(peer, 99)
            ctx.metric("c2c_100", label100, "Gbit/s", name,
                       sum((iperf(srv, cli, ip, secs) for _ in range(reps)), []),
                       higher_is_better=True)
    m = ctx.median_of
    ctx.goal("data plane with 100 networks: at least 95% of the single-network throughput",
             ratio(m("c2c_100", "boxnet"), m("c2c_1", "boxnet")), 0.95, higher_is_better=True)
    ctx.goal("published port: at least 90% of direct", None, 0.9,
             detail="comes with the firewall issue (published ports)")
    ctx.note(f"iperf3 TCP, one stream, -t {secs}, {reps} run(s) per point; samples are the "
             "one-second intervals. Throughput on a 2-core VM is CPU-bound and noisy.")
    return res
