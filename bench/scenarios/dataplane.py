"""Scenario 3, data plane: iperf3 container to container on one bridge network.

For every peer: two containers on one network, iperf3 (the host's binary) run with
`nsenter --net=<container netns>` on both sides (the same program for every peer), with
1 network present and then with 100. The host loopback inside a bench netns is the ceiling.
Traffic stays inside the bench namespaces; each run is bounded (-t 3 quick, -t 10 full).
Samples are iperf3's one-second intervals. Published port (boxnet): iperf3
from an "outside" netns joined to the bench host by a veth, through the published host
port (DNAT) against straight to the container's IP (routed), same container.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time

from bench.context import Context
from bench.stats import ratio

NAME = "dataplane"
TITLE = "3. Data plane (iperf3)"
PEERS = ("rawfloor", "boxnet", "docker", "netavark", "cni")
PORT = 5201
PUB_PORT = 15201


def iperf(server_ns: str, client_ns: str, ip: str, seconds: int,
          client_port: int | None = None) -> list[float]:
    """One bounded iperf3 TCP run; return the per-interval throughputs in Gbit/s.

    `client_port`: the port the client connects to (a published host port), if not PORT.
    """
    server = subprocess.Popen(["nsenter", f"--net={server_ns}", "iperf3", "-s",
                               "-p", str(PORT)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        out = None
        for _ in range(50):  # wait for the server socket (at most ~5 s)
            res = subprocess.run(["nsenter", f"--net={client_ns}", "iperf3", "-c", ip, "-p",
                                  str(client_port or PORT), "-t", str(seconds), "-J"],
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


def _outside(peer) -> str:
    """An "outside" netns joined to the peer's bench host by a veth (198.18.0.0/30)."""
    name = "bxb-out-" + secrets.token_hex(3)
    subprocess.run(["ip", "netns", "add", name], check=True)
    h = peer.host.name
    for argv in (["ip", "-n", h, "link", "add", "bxo0", "type", "veth", "peer", "name", "eth0",
                  "netns", name],
                 ["ip", "-n", h, "addr", "add", "198.18.0.1/30", "dev", "bxo0"],
                 ["ip", "-n", h, "link", "set", "bxo0", "up"],
                 ["ip", "-n", name, "addr", "add", "198.18.0.2/30", "dev", "eth0"],
                 ["ip", "-n", name, "link", "set", "eth0", "up"],
                 ["ip", "-n", name, "link", "set", "lo", "up"],
                 ["ip", "-n", name, "route", "add", "default", "via", "198.18.0.1"]):
        subprocess.run(argv, check=True, capture_output=True)
    return name


def published_port(ctx: Context, peer, secs: int, reps: int) -> None:
    """iperf3 from an outside netns through a published port vs to the container's IP."""
    out = _outside(peer)
    try:
        # direct routing to a container is dropped on every port (issue 14), unless the
        # network trusts the interface it comes from: the outside's veth here
        peer.api.request("POST", "/networks/create", body={
            "Name": "dp-pubnet", "Driver": "bridge",
            "Options": {"com.docker.network.bridge.trusted_host_interfaces": "bxo0"}})
        cid = peer.api.request("POST", "/containers/create", query={"name": "dp-pub"}, body={
            "Image": "busybox:latest", "Cmd": ["sleep", "3600"],
            "HostConfig": {"NetworkMode": "dp-pubnet",
                           "PortBindings": {f"{PORT}/tcp": [{"HostPort": str(PUB_PORT)}]}}})["Id"]
        peer.api.request("POST", f"/containers/{cid}/start")
        ns, ip = peer.container_netns(cid), peer.container_ip(cid, "dp-pubnet")
        # direct routing to the container (its published port, through the trusted bxo0)
        subprocess.run(["ip", "-n", out, "route", "add", ip, "via", "198.18.0.1"], check=True)
        outns = f"/run/netns/{out}"
        ctx.metric("pub_direct", "outside to the container's IP (routed)", "Gbit/s", peer.name,
                   sum((iperf(ns, outns, ip, secs) for _ in range(reps)), []),
                   higher_is_better=True)
        ctx.metric("pub_port", "outside through a published port (DNAT)", "Gbit/s", peer.name,
                   sum((iperf(ns, outns, "198.18.0.1", secs, PUB_PORT) for _ in range(reps)), []),
                   higher_is_better=True)
    finally:
        subprocess.run(["ip", "netns", "del", out], capture_output=True)


def run(ctx: Context) -> dict:
    """Run scenario 3 against every peer; return its results."""
    res = ctx.begin(NAME, TITLE)
    secs = ctx.pick(3, 10)
    reps = ctx.repetitions(1, 3)   # quick: one run per point keeps `make bench QUICK=1` < 5 min
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
            if name == "boxnet":
                published_port(ctx, peer, secs, reps)
            _more_networks(peer, 99)
            ctx.metric("c2c_100", label100, "Gbit/s", name,
                       sum((iperf(srv, cli, ip, secs) for _ in range(reps)), []),
                       higher_is_better=True)
    m = ctx.median_of
    ctx.goal("data plane with 100 networks: at least 95% of the single-network throughput",
             ratio(m("c2c_100", "boxnet"), m("c2c_1", "boxnet")), 0.95, higher_is_better=True)
    ctx.goal("published port: at least 90% of direct (outside netns, iperf3)",
             ratio(m("pub_port", "boxnet"), m("pub_direct", "boxnet")), 0.9,
             higher_is_better=True)
    ctx.note(f"iperf3 TCP, one stream, -t {secs}, {reps} run(s) per point; samples are the "
             "one-second intervals. Throughput on a 2-core VM is CPU-bound and noisy.")
    return res
