"""Scenario: `docker network connect` through the boxnet plugin vs Docker's own bridge.

Issue 19's performance goal: a connect of a running container to a network of the
`boxnet` driver (boxnet's IPAM too) takes at most what Docker's own bridge driver takes.
Both run on the same stock dockerd build in a bench netns; the plugin peer's dockerd
asks boxnetd over its plugin socket (RequestAddress, CreateEndpoint, Join, ...).
Each repetition: connect (timed), disconnect (timed), on a container of the default bridge.
"""

from __future__ import annotations

from bench.context import Context
from bench.peers.dockerplugin import DockerPluginPeer
from bench.stats import ratio

NAME = "plugin_docker"
TITLE = "19. Docker plugin: docker network connect, boxnet driver vs Docker's bridge"
MS = 1000.0


def run(ctx: Context) -> dict:
    """Time connect/disconnect on Docker's bridge driver and on the boxnet plugin."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(10, 40)
    for label, driver, factory in (("docker", "bridge", None),
                                   ("docker-plugin", "boxnet", DockerPluginPeer)):
        with ctx.peer(label, factory) as peer:
            if peer is None:
                continue
            peer.ensure_busybox()
            body = {"Name": "bench-plug", "Driver": driver}
            if driver == "boxnet":
                body["IPAM"] = {"Driver": "boxnet"}
            net = peer.api.request("POST", "/networks/create", body=body)["Id"]
            cid = peer.run_container("bench-plug-c", "bridge")
            conn, disc = [], []
            try:
                for _ in range(reps):
                    t, token = peer.attach(net, cid)
                    conn.append(t * MS)
                    disc.append(peer.detach(net, token) * MS)
            finally:
                peer.remove_container(cid)
                peer.remove_network(net)
            ctx.metric("connect", "docker network connect", "ms", label, conn)
            ctx.metric("disconnect", "docker network disconnect", "ms", label, disc)
    m = ctx.median_of
    ctx.goal("connect through the boxnet plugin: at most Docker's bridge driver time",
             ratio(m("connect", "docker-plugin"), m("connect", "docker")), 1.0)
    return res
