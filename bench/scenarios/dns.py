"""Scenario 4, embedded DNS: queries from inside a container, and memory per resolver.

For boxnet and Docker: a user-defined network with two busybox containers; the same load
generator (bench/dnsload.py) runs in one container's netns (`nsenter --net`) and asks the
embedded resolver (127.0.0.11) for the other container's name: bounded in time and count.
Two loads: saturated (16 queries in flight: queries/s, p50/p99 under load) and unloaded
(1 in flight: p50/p99). aardvark-dns (Podman's resolver, started by netavark on a
dns-enabled network) gets the same local-name loads, asked at the network's gateway.
Forwarded name: a second client container whose --dns is a local stub upstream
(bench/dnsstub.py, in the peer's own netns, on the network's gateway address) asks for
a name only the stub knows, through the embedded resolver. Memory: daemon RSS growth per
container, with N containers on the user network (each has a resolver) and N on the default
bridge (no resolver in either engine); the difference per container is what a resolver costs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.context import Context
from bench.peers.netavark import AARDVARK
from bench.stats import ratio

NAME = "dns"
TITLE = "4. Embedded DNS from inside a container"
PEERS = ("boxnet", "docker")
ROOT = Path(__file__).resolve().parents[2]


FORWARDED = "www.outside.bench"


def load(netns: str, name: str, seconds: float, window: int, limit: int = 500000,
         server: str = "127.0.0.11") -> dict:
    """One bounded run of the load generator inside a netns."""
    r = subprocess.run(["nsenter", f"--net={netns}", sys.executable, "-m", "bench.dnsload",
                        name, "--seconds", str(seconds), "--window", str(window),
                        "--max", str(limit), "--server", server],
                       capture_output=True, text=True, timeout=seconds + 60, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"dnsload failed: {r.stderr[-300:]}")
    out = json.loads(r.stdout)
    if not out["ok"] or out["bad"]:
        raise RuntimeError(f"the embedded DNS did not answer the name: {out}")
    return out


def _rss_mib(peer) -> float:
    return peer.rss().get("daemon_rss_kib", 0) / 1024


def _memory(ctx: Context, peer, name: str, n: int) -> None:
    """RSS growth per container, with and without a resolver."""
    suffix = "" if n in (20, 100) else f"_{n}"
    growth = {}
    for net in ("dns-net", "bridge"):
        before = _rss_mib(peer)
        ids = [peer.run_container(f"m-{net}-{i}", net) for i in range(n)]
        growth[net] = (_rss_mib(peer) - before) * 1024 / n
        for cid in ids:
            peer.remove_container(cid)
    ctx.metric("rss_per_container_user" + suffix, f"daemon RSS growth per container on a user "
               f"network ({n} containers, each with a resolver)", "KiB", name, [growth["dns-net"]])
    ctx.metric("rss_per_container_bridge" + suffix, f"daemon RSS growth per container on the "
               f"default bridge ({n} containers, no resolver)", "KiB", name, [growth["bridge"]])
    ctx.metric("rss_per_resolver" + suffix, f"resolver cost: difference of the two ({n})", "KiB",
               name, [growth["dns-net"] - growth["bridge"]])


def _memory_big(ctx: Context, peer, name: str, n: int) -> None:
    """RSS growth per container with a resolver, n containers on a /20 network."""
    peer.create_network("dns-big", "10.250.0.0/20")
    before = _rss_mib(peer)
    ids = [peer.run_container(f"big-{i}", "dns-big") for i in range(n)]
    growth = (_rss_mib(peer) - before) * 1024 / n
    for cid in ids:
        peer.remove_container(cid)
    ctx.metric(f"rss_per_container_user_{n}", f"daemon RSS growth per container on a user "
               f"network ({n} containers, each with a resolver)", "KiB", name, [growth])


def _local_loads(ctx: Context, name: str, ns: str, secs: float, reps: int,
                 server: str = "127.0.0.11") -> None:
    """Saturated and unloaded loads for the local name dns-a, from netns ns."""
    load(ns, "dns-a", 0.5, 16, server=server)   # warm-up (and proof that it answers)
    runs = [load(ns, "dns-a", secs, 16, server=server) for _ in range(reps)]
    ctx.metric("qps", "queries/s, 16 in flight", "q/s", name,
               [r["qps"] for r in runs], higher_is_better=True)
    ctx.metric("p50_load", "p50 latency, 16 in flight", "ms", name,
               [r["p50_ms"] for r in runs])
    ctx.metric("p99_load", "p99 latency, 16 in flight", "ms", name,
               [r["p99_ms"] for r in runs])
    ctx.metric("lost", "unanswered queries (1 s timeout), 16 in flight", "queries",
               name, [r["lost"] for r in runs])
    idle = [load(ns, "dns-a", secs / 2, 1, limit=5000, server=server) for _ in range(reps)]
    ctx.metric("p50_idle", "p50 latency, 1 in flight", "ms", name,
               [r["p50_ms"] for r in idle])
    ctx.metric("p99_idle", "p99 latency, 1 in flight", "ms", name,
               [r["p99_ms"] for r in idle])


def _wait_answered(netns: str, name: str, timeout: float = 20.0) -> None:
    """Until a query for `name` is answered through the embedded resolver: the stub
    upstream is started just before and, on a loaded machine, may not listen yet (its
    first queries then fail fast as SERVFAIL, which `load` rightly reports as bad)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            load(netns, name, 0.05, 1, limit=20)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _forwarded(ctx: Context, peer, name: str, secs: float, reps: int) -> None:
    """A name only the stub upstream knows, asked through the embedded resolver of a
    container whose --dns is the stub (on the network's gateway, in the peer's netns)."""
    gw = peer.inspect_network("dns-net")["IPAM"]["Config"][0]["Gateway"]
    stub = peer.host.popen([sys.executable, "-m", "bench.dnsstub", "--addr", gw],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cid = peer.api.request("POST", "/containers/create", query={"name": "dns-fwd"}, body={
            "Image": "busybox:latest", "Cmd": ["sleep", "3600"],
            "HostConfig": {"NetworkMode": "dns-net", "Dns": [gw]}})["Id"]
        peer.api.request("POST", f"/containers/{cid}/start")
        ns = peer.container_netns(cid)
        _wait_answered(ns, FORWARDED)
        load(ns, FORWARDED, 0.5, 16)
        runs = [load(ns, FORWARDED, secs, 16) for _ in range(reps)]
        ctx.metric("fwd_qps", "forwarded name: queries/s, 16 in flight", "q/s", name,
                   [r["qps"] for r in runs], higher_is_better=True)
        ctx.metric("fwd_p99", "forwarded name: p99 latency, 16 in flight", "ms", name,
                   [r["p99_ms"] for r in runs])
        idle = [load(ns, FORWARDED, secs / 2, 1, limit=5000) for _ in range(reps)]
        ctx.metric("fwd_p50_idle", "forwarded name: p50 latency, 1 in flight", "ms", name,
                   [r["p50_ms"] for r in idle])
        peer.remove_container(cid)
    finally:
        peer.host.kill_tree(stub.pid)


def _aardvark(ctx: Context, secs: float, reps: int) -> None:
    """aardvark-dns, started by netavark on a dns-enabled network: the local-name loads."""
    with ctx.peer("netavark") as peer:
        if peer is None:
            return
        if not Path(AARDVARK).exists():
            ctx.skip("aardvark", f"{AARDVARK} not installed")
            return
        pins, server = peer.dns_network(["dns-a", "dns-b"])
        _local_loads(ctx, "aardvark", str(pins[1]), secs, reps, server=server)


def run(ctx: Context) -> dict:
    """Run scenario 4 against boxnet and Docker; return its results."""
    res = ctx.begin(NAME, TITLE)
    secs = ctx.pick(2.0, 5.0)
    reps = ctx.repetitions(3, 5)
    count = ctx.pick(20, 100)
    short = (ctx.pick(1.0, secs), ctx.repetitions(2, reps))   # forwarded name, aardvark-dns
    for name in PEERS:
        with ctx.peer(name) as peer:
            if peer is None:
                continue
            peer.create_network("dns-net")
            peer.run_container("dns-a", "dns-net")
            b = peer.run_container("dns-b", "dns-net")
            ns = peer.container_netns(b)
            _local_loads(ctx, name, ns, secs, reps)
            _forwarded(ctx, peer, name, *short)
            _memory(ctx, peer, name, count)
            if not ctx.quick and name == "boxnet":
                # The issue asks for 1000 too (Docker's memory at 1000 containers is in the
                # scale scenario: its shims alone take ~13 GiB here). The bench pools are
                # /24s, so 1000 containers get their own /20 user network.
                _memory_big(ctx, peer, name, 1000)
    _aardvark(ctx, *short)
    m = ctx.median_of
    ctx.goal("queries/s at least Docker's", ratio(m("qps", "boxnet"), m("qps", "docker")), 1.0,
             higher_is_better=True)
    ctx.goal("p99 latency under load no worse than Docker's",
             ratio(m("p99_load", "boxnet"), m("p99_load", "docker")), 1.0)
    ctx.goal("queries/s at least aardvark-dns's (Podman)",
             ratio(m("qps", "boxnet"), m("qps", "aardvark")), 1.0, higher_is_better=True)
    ctx.note(f"Load generator: bench/dnsload.py (one Python process, one UDP socket) in the "
             f"client container's netns; {secs:g} s per run, {reps} runs. On 2 cores the "
             "client and the server compete for CPU; the client is the same for both peers. "
             f"Memory: {count} containers per network kind, RSS read once before and after. "
             "Forwarded name: boxnet caches upstream answers for their TTL (60 s here), "
             "Docker's resolver forwards every query, so its rate is the stub's.")
    return res
