"""Scenario 2, scale: many containers on one network, many networks; cost along the way.

Containers: 1, 10, 100, 1000 on one network (quick: 1, 10, 50). Engines (boxnet, Docker) do
`run -d busybox sleep` on the network; netavark, CNI and the raw floor attach a new netns.
Networks: 1, 10, 100, 250 (quick: 1, 10, 25). Engines do `network create`; the raw floor
creates a bridge; netavark and CNI have no network object, so their point is the first
attach on a new network (which creates its bridge and rules).
At each checkpoint: time to list and to inspect (engines), daemon RSS, and ruleset size
(`nft list ruleset` and `iptables-save` lines in the peer's own netns).
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.stats import median, window_ratio

NAME = "scale"
TITLE = "2. Scale"
MS = 1000.0
PEERS = ("rawfloor", "boxnet", "docker", "netavark", "cni")


def _timed(fn, n: int = 3) -> float:
    """Median wall time of fn() over n calls, in ms."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * MS)
    return median(out)


def _checkpoint(ctx: Context, peer, prefix: str, n: int, last=None, net=None) -> None:
    if peer.kind == "engine":
        lister = peer.list_containers if prefix == "containers" else peer.list_networks
        ctx.value(f"{prefix}_list", f"{prefix}: list time", "ms", peer.name, n, _timed(lister))
        if last is not None:
            ctx.value(f"{prefix}_inspect", f"{prefix}: inspect time", "ms", peer.name, n,
                      _timed(lambda: peer.inspect_container(last) if prefix == "containers"
                             else peer.inspect_network(last)))
    rss = peer.rss()
    if "daemon_rss_kib" in rss:
        ctx.value(f"{prefix}_rss", f"{prefix}: daemon RSS", "MiB", peer.name, n,
                  rss["daemon_rss_kib"] / 1024)
    if "tree_rss_kib" in rss:
        ctx.value(f"{prefix}_tree_rss", f"{prefix}: RSS of all the engine started, "
                  "containers excluded", "MiB", peer.name, n, rss["tree_rss_kib"] / 1024)
    rules = peer.host.ruleset_size()
    ctx.value(f"{prefix}_nft", f"{prefix}: nft ruleset lines", "lines", peer.name, n,
              rules["nft_lines"])
    ctx.value(f"{prefix}_ipt", f"{prefix}: iptables-save lines", "lines", peer.name, n,
              rules["iptables_lines"])


def _containers(ctx: Context, peer, counts: list[int]) -> list[float]:
    if peer.kind == "engine":
        _, net = peer.net_create("sc-net", 0, subnet="10.64.0.0/20")
    elif peer.kind == "floor":
        _, net = peer.net_create("sc-net", 0)
    else:
        net = peer.net_define("sc-net", 0)
    ys, last = [], None
    for i in range(1, max(counts) + 1):
        if peer.kind == "engine":
            t0 = time.perf_counter()
            last = peer.run_container(f"sc-{i}", "sc-net")
            ys.append((time.perf_counter() - t0) * MS)
        else:
            t, _ = peer.attach(net, peer.sandbox_new())
            ys.append(t * MS)
        if i in counts:
            _checkpoint(ctx, peer, "containers", i, last=last)
    ctx.curve("containers", "per-container cost (engines: run -d; others: attach a new "
              "netns)", "ms", peer.name, ys, xlabel="containers on the network")
    return ys


def _networks(ctx: Context, peer, counts: list[int]) -> None:
    ys, last = [], None
    for i in range(1, max(counts) + 1):
        if peer.kind in ("engine", "floor"):
            t, last = peer.net_create(f"sn-{i}", i)
        else:
            t, _ = peer.attach(peer.net_define(f"sn-{i}", i), peer.sandbox_new())
        ys.append(t * MS)
        if i in counts:
            _checkpoint(ctx, peer, "networks", i, last=last)
    ctx.curve("networks", "per-network cost (engines: network create; raw floor: bridge; "
              "netavark/CNI: first attach)", "ms", peer.name, ys, xlabel="networks")


def run(ctx: Context) -> dict:
    """Run scenario 2 against every peer; return its results."""
    res = ctx.begin(NAME, TITLE)
    c_counts = ctx.pick([1, 10, 50], [1, 10, 100, 1000])
    n_counts = ctx.pick([1, 10, 25], [1, 10, 100, 250])
    flat, flat200 = {}, {}
    for name in PEERS:
        with ctx.peer(name) as peer:
            if peer is not None:
                ys = _containers(ctx, peer, c_counts)
                flat[name] = window_ratio(ys, 10)
                flat200[name] = window_ratio(ys[:200], 10) if len(ys) >= 200 else None
                if flat[name] is not None:
                    ctx.value("flatness", "median of the last 10 over the first 10 operations",
                              "ratio", name, len(ys), flat[name])
        with ctx.peer(name) as peer:
            if peer is not None:
                _networks(ctx, peer, n_counts)
    full = max(c_counts) >= 1000
    ctx.goal("per-operation cost flat to 1000 containers (last 10 within 1.2x of first 10)",
             flat.get("boxnet"), 1.2, measured=full,
             detail="" if full else f"quick mode stops at {max(c_counts)} containers: "
             f"ratio there {flat.get('boxnet')}")
    ctx.goal("per-operation cost flat to 200 containers (last 10 of 200 within 1.2x of the "
             "first 10; the engine-core goal)", flat200.get("boxnet"), 1.2,
             measured=flat200.get("boxnet") is not None,
             detail="peers: " + ", ".join(f"{p} {v:.2f}" for p, v in flat200.items()
                                          if v is not None)
             if flat200.get("boxnet") is not None else
             f"quick mode stops at {max(c_counts)} containers")
    rss = {p: dict(pts).get(max(c_counts)) for p, pts in
           res["series"].get("containers_rss", {}).get("peers", {}).items()}
    tree = {p: dict(pts).get(max(c_counts)) for p, pts in
            res["series"].get("containers_tree_rss", {}).get("peers", {}).items()}
    val = None if rss.get("boxnet") is None or rss.get("docker") is None else \
        rss["boxnet"] / rss["docker"]
    ctx.goal("daemon RSS with 1000 containers below Docker's daemon (ratio < 1)", val, 1.0,
             measured=full, detail=f"RSS MiB at {max(c_counts)} containers: daemons {rss}; "
             f"with everything they started (shims), containers excluded: {tree}")
    ctx.note("Docker's daemon RSS = dockerd + containerd; the second RSS series adds the "
             "containerd shims (one per container). netavark and CNI keep nothing resident.")
    return res
