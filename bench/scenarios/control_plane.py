"""Scenario 1, control plane: network create/remove, attach/detach, `run -d`, runc start.

- network create + remove: boxnet and Docker (API), the raw floor (bridge + address + up);
- attach a container netns to an existing bridge network, then detach: boxnet and Docker
  `network connect`/`disconnect` of a running container, netavark setup/teardown, CNI
  ADD/DEL, and the raw floor (new netns + veth + address + bridge port, one process);
- `run -d busybox sleep` on a user bridge (create + start): boxnet and Docker, with runc's
  own `run -d` beside them for reference.
One untimed warm-up per operation and peer, then `reps` timed repetitions.
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.peers.runc import RuncRef
from bench.stats import ratio

NAME = "control_plane"
TITLE = "1. Control plane"
MS = 1000.0


def _networks(ctx: Context, peer, reps: int) -> None:
    create, remove = [], []
    for i in range(reps + 1):
        t_c, net = peer.net_create(f"cp-net-{i}", 100 + i)
        t_r = peer.net_remove(net)
        if i:  # the first one is the warm-up
            create.append(t_c * MS)
            remove.append(t_r * MS)
    ctx.metric("net_create", "network create", "ms", peer.name, create)
    ctx.metric("net_remove", "network remove", "ms", peer.name, remove)


def _attach(ctx: Context, peer, reps: int) -> None:
    if peer.kind == "engine":
        _, net = peer.net_create("cp-attach", 1)
    elif peer.kind == "floor":
        _, net = peer.net_create("cp-attach", 1)
    else:
        net = peer.net_define("cp-attach", 1)
        peer.attach(net, peer.sandbox_new())  # an anchor, so the bridge already exists
    sandbox = None if peer.kind == "floor" else peer.sandbox_new()
    att, det, link, moved = [], [], [], []
    for i in range(reps + 1):
        sb = peer.sandbox_new() if peer.kind == "floor" else sandbox
        t_a, tok = peer.attach(net, sb)
        t_d = peer.detach(net, tok)
        if i:
            att.append(t_a * MS)
            det.append(t_d * MS)
            if peer.kind == "floor":
                link.append(tok["t_link"] * MS)
    ctx.metric("attach", "attach (connect / setup / ADD)", "ms", peer.name, att)
    ctx.metric("detach", "detach (disconnect / teardown / DEL)", "ms", peer.name, det)
    if peer.kind == "floor":
        ctx.metric("attach_existing", "attach into an existing netns", "ms", peer.name, link)
        for i in range(reps + 1):
            t_a, tok = peer.attach(net, peer.sandbox_new(), move=True)
            peer.detach(net, tok)
            if i:
                moved.append(t_a * MS)
        ctx.metric("attach_moved", "attach, veth made in host then moved", "ms", peer.name,
                   moved)
        retired = []
        for i in range(reps + 1):
            _, tok = peer.attach(net, peer.sandbox_new())
            t_d = peer.detach(net, tok, retire=True)
            if i:
                retired.append(t_d * MS)
        ctx.metric("floor_retire", "detach's in-request share when the deletion is deferred "
                   "(down, address, rename)", "ms", peer.name, retired)


def _run_d(ctx: Context, peer, reps: int) -> None:
    _, net = peer.net_create("cp-run", 2)
    times, removals, running = [], [], 0
    for i in range(reps + 1):
        t0 = time.perf_counter()
        cid = peer.run_container(f"cp-run-{i}", "cp-run")
        t = time.perf_counter() - t0
        running += bool(peer.inspect_container(cid)["State"].get("Running"))
        t0 = time.perf_counter()
        peer.remove_container(cid)
        t_rm = time.perf_counter() - t0
        if i:
            times.append(t * MS)
            removals.append(t_rm * MS)
    if running != reps + 1:
        ctx.note(f"{peer.name}: only {running} of {reps + 1} containers were running right "
                 "after `run -d` returned")
    ctx.metric("run_d", "`run -d busybox sleep` on a user bridge", "ms", peer.name, times)
    ctx.metric("rm_f", "`rm -f` of that running container", "ms", peer.name, removals)


def run(ctx: Context) -> dict:
    """Run scenario 1 against every peer; return its results."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(8, 30)
    for name in ("rawfloor", "boxnet", "docker", "netavark", "cni"):
        with ctx.peer(name) as peer:
            if peer is None:
                continue
            if peer.kind in ("engine", "floor"):
                _networks(ctx, peer, reps)
            _attach(ctx, peer, reps)
            if peer.kind == "engine":
                _run_d(ctx, peer, reps)
    with ctx.peer("runc", RuncRef) as runc:
        if runc is not None:
            runc.run_once()
            starts, deletes = [], []
            for _ in range(reps):
                starts.append(runc.run_once() * MS)
                deletes.append(runc.last_delete * MS)
            ctx.metric("run_d", "`run -d busybox sleep` on a user bridge", "ms", "runc", starts)
            ctx.metric("rm_f", "`rm -f` of that running container", "ms", "runc", deletes)
    m = ctx.median_of
    ctx.goal("attach: at most 1.5x the raw kernel floor",
             ratio(m("attach", "boxnet"), m("attach", "rawfloor")), 1.5,
             detail="floor = new netns + veth (peer born in the netns) + address + bridge port")
    ctx.goal("attach: at most 1.5x the floor into an existing netns (the same work as a "
             "connect)", ratio(m("attach", "boxnet"), m("attach_existing", "rawfloor")), 1.5,
             detail="stricter reading: the connect target's netns already exists")
    ctx.goal("attach: below CNI's ADD", ratio(m("attach", "boxnet"), m("attach", "cni")), 1.0,
             detail="ratio boxnet/CNI must be < 1")
    ctx.goal("network create: at most a tenth of Docker's",
             ratio(m("net_create", "boxnet"), m("net_create", "docker")), 0.1)
    ctx.goal("network create: at most 0.08x Docker's (API, no client start-up)",
             ratio(m("net_create", "boxnet"), m("net_create", "docker")), 0.08)
    ctx.goal("network disconnect: at most 0.25x Docker's",
             ratio(m("detach", "boxnet"), m("detach", "docker")), 0.25)
    ctx.goal("network disconnect: at most 1.2x the raw floor of the same kernel work",
             ratio(m("detach", "boxnet"), m("detach", "rawfloor")), 1.2,
             detail="floor = deleting the veth pair in one process (what a disconnect must "
             "get done); boxnet makes it invisible at once and deletes it off the request "
             "path; floor_retire is that in-request share alone")
    ctx.goal("container removal (`rm -f` of a running container): at most 0.25x Docker's",
             ratio(m("rm_f", "boxnet"), m("rm_f", "docker")), 0.25)
    ctx.goal("container removal: at most 1.2x the raw floor (runc's own `delete -f`)",
             ratio(m("rm_f", "boxnet"), m("rm_f", "runc")), 1.2,
             detail="floor = `runc delete -f` of a running container (SIGKILL, reap, cgroup "
             "and state) as a process; the netns and veth release is off the request path")
    ctx.goal("`run -d`: at most a quarter of Docker's",
             ratio(m("run_d", "boxnet"), m("run_d", "docker")), 0.25)
    ctx.note("Engines (boxnet, Docker) are timed around their Engine API call over the unix "
             "socket; netavark and CNI around their process (the way a runtime calls them); "
             "the raw floor inside its own process. The engines' connect target is a running "
             "busybox container; netavark/CNI attach a pinned empty netns to a network whose "
             "bridge already exists.")
    return res
