"""Live flows (issue 20 section 3): the data plane with flows on against off.

boxnet only (no peer has flows). Two boxnetd, each in its own bench netns, both
holding two containers on one bridge network: one as it starts by default (flows
on: conntrack accounting and timestamps on in its netns, its conntrack event and
NFLOG subscriptions open, the drop log rules in its ruleset) and one started with
`--flows=off` (none of that). iperf3 between the two containers of each daemon,
alternated between the daemons in both orders so that drift hits both alike. The
Python side works per connection (two conntrack events), never per accepted
packet, so one long iperf3 connection measures the kernel's share.
"""

from __future__ import annotations

from bench.context import Context
from bench.peers.boxnet import BoxnetPeer
from bench.peers.engine import EngineError
from bench.scenarios.dataplane import iperf
from bench.stats import ratio

NAME = "flows"
TITLE = "21. Live flows (conntrack accounting and events)"
NET = "flow-net"


class FlowsOffPeer(BoxnetPeer):
    """boxnetd started with --flows=off."""

    def daemon_argv(self) -> list[str]:
        """BoxnetPeer's command line plus --flows=off."""
        return [*super().daemon_argv(), "--flows=off"]


def _check_off(on_peer, off_peer) -> None:
    """The daemon started with --flows=off refuses flows (503), the other serves them."""
    on_peer.api.request("GET", "/boxnet/v1/flows/status")
    try:
        off_peer.api.request("GET", "/boxnet/v1/flows/status")
    except EngineError as e:
        if e.status == 503:
            return
        raise
    raise RuntimeError("boxnetd --flows=off still serves flows")


def _pair(peer) -> tuple:
    peer.net_create(NET, 0)
    a = peer.run_container("fl-a", NET)
    b = peer.run_container("fl-b", NET)
    return peer.container_netns(a), peer.container_netns(b), peer.container_ip(a, NET)


def run(ctx: Context) -> dict:
    """Run the flows scenario against boxnet; return its results."""
    res = ctx.begin(NAME, TITLE)
    secs = ctx.pick(3, 10)
    reps = ctx.repetitions(4, 6)   # alternations: other work on the 2 cores comes in bursts
    with ctx.peer("boxnet") as on_peer, ctx.peer("boxnet", FlowsOffPeer) as off_peer:
        if on_peer is None or off_peer is None:
            return res
        _check_off(on_peer, off_peer)
        pairs = {True: _pair(on_peer), False: _pair(off_peer)}
        on, off = [], []
        for i in range(reps):   # alternated, in both orders: drift hits both alike
            for state in ((False, True) if i % 2 == 0 else (True, False)):
                (on if state else off).extend(iperf(*pairs[state], secs))
        ctx.metric("c2c_flows_off", "container to container, flows off", "Gbit/s", "boxnet",
                   off, higher_is_better=True)
        ctx.metric("c2c_flows_on", "container to container, flows on", "Gbit/s", "boxnet",
                   on, higher_is_better=True)
    m = ctx.median_of
    ctx.goal("data plane with flows on: at least 95% of off",
             ratio(m("c2c_flows_on", "boxnet"), m("c2c_flows_off", "boxnet")), 0.95,
             higher_is_better=True)
    ctx.note(f"iperf3 TCP, one stream, -t {secs}, {reps} alternated run(s) each, between "
             "two boxnetd: the default (flows on) and one started with --flows=off (no "
             "conntrack accounting or subscriptions, no drop log rules).")
    return res
