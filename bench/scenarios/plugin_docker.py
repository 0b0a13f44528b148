"""Scenario: `docker network connect` through the boxnet plugin vs Docker's own bridge.

Issue 19's performance goal: a connect of a running container to a network of the
`boxnet` driver (boxnet's IPAM too) takes at most what Docker's own bridge driver takes.
Both run on the same stock dockerd build in a bench netns; the plugin peer's dockerd
asks boxnetd over its plugin socket (RequestAddress, CreateEndpoint, Join, ...).
Each repetition: connect (timed), disconnect (timed), on a container of the default bridge,
one peer after the other.  Beside the wall time: the CPU dockerd spends during each
connect (both peers) and boxnetd's (the plugin peer; bench/peers/proccpu.py), since on
2 cores either daemon's CPU is time the other waits for.  Measured 2026-12-07: dockerd
the same within 0-3 ms with either driver (23-29 ms per connect at load 1.5-4, 19.0 vs
19.6 ms in the quiet run of bench/results/stop27-quiet); boxnetd 15-16 ms during the
call at that load (~19 ms counting the next spare pair it finishes just after), 11.3 ms
in the quiet run; docs/plugins.md.
"""

from __future__ import annotations

from bench.context import Context
from bench.peers.dockerplugin import DockerPluginPeer
from bench.peers.proccpu import CpuMeter, daemon_pids
from bench.stats import ratio

NAME = "plugin_docker"
TITLE = "19. Docker plugin: docker network connect, boxnet driver vs Docker's bridge"
MS = 1000.0


def _setup(peer, driver: str) -> tuple[str, str]:
    peer.ensure_busybox()
    body = {"Name": "bench-plug", "Driver": driver}
    if driver == "boxnet":
        body["IPAM"] = {"Driver": "boxnet"}
    net = peer.api.request("POST", "/networks/create", body=body)["Id"]
    return net, peer.run_container("bench-plug-c", "bridge")


def _meter(peer) -> CpuMeter:
    """dockerd's CPU, and boxnetd's for the plugin peer."""
    pids = daemon_pids(peer.proc.pid, ("dockerd",))
    if getattr(peer, "boxnetd", None) is not None:
        pids["boxnetd"] = [peer.boxnetd.pid]
    return CpuMeter(pids)


def run(ctx: Context) -> dict:
    """Time connect/disconnect on Docker's bridge driver and on the boxnet plugin,
    both daemons up at once and the repetitions interleaved (a drift of the shared
    machine hits both)."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(10, 40)
    with ctx.peer("docker") as docker, ctx.peer("docker-plugin", DockerPluginPeer) as plug:
        peers = [(label, peer, driver) for label, peer, driver in
                 (("docker", docker, "bridge"), ("docker-plugin", plug, "boxnet"))
                 if peer is not None]
        made = {label: _setup(peer, driver) for label, peer, driver in peers}
        times = {label: ([], []) for label, _, _ in peers}
        meters = {label: _meter(peer) for label, peer, _ in peers}
        cpu = {label: {} for label, _, _ in peers}   # label -> process name -> ms per connect
        try:
            for _ in range(reps):
                for label, peer, _ in peers:
                    net, cid = made[label]
                    meters[label].start()
                    t, token = peer.attach(net, cid)
                    for name, ms in meters[label].ms().items():
                        cpu[label].setdefault(name, []).append(ms)
                    times[label][0].append(t * MS)
                    times[label][1].append(peer.detach(net, token) * MS)
        finally:
            for label, peer, _ in peers:
                net, cid = made[label]
                peer.remove_container(cid)
                peer.remove_network(net)
        for label, (conn, disc) in times.items():
            ctx.metric("connect", "docker network connect", "ms", label, conn)
            ctx.metric("disconnect", "docker network disconnect", "ms", label, disc)
        for label, by_name in cpu.items():
            for name, values in by_name.items():
                ctx.metric(f"connect_cpu_{name}", f"{name} CPU during a connect", "ms",
                           label, values)
    m = ctx.median_of
    ctx.goal("connect through the boxnet plugin: at most Docker's bridge driver time",
             ratio(m("connect", "docker-plugin"), m("connect", "docker")), 1.0)
    return res
