"""Live flows (issue 20 section 3): the data plane with flows on against off.

boxnet only (no peer has flows). iperf3 between two containers of one bridge network,
alternately with flows on (what boxnetd sets at start: conntrack accounting and
timestamps on in its netns, its conntrack event and NFLOG subscriptions open) and off
(net.netfilter.nf_conntrack_acct and nf_conntrack_timestamp 0 in the bench netns, so a
new connection carries neither extension: the per-packet part of flows). The Python side
works per connection (two conntrack events), never per accepted packet, so one long
iperf3 connection measures the kernel's share; both sysctls are put back at the end.
"""

from __future__ import annotations

from bench.context import Context
from bench.scenarios.dataplane import iperf
from bench.stats import ratio

NAME = "flows"
TITLE = "21. Live flows (conntrack accounting and events)"
NET = "flow-net"
KEYS = ("net.netfilter.nf_conntrack_acct", "net.netfilter.nf_conntrack_timestamp")


def _flows(peer, on: bool) -> None:
    for key in KEYS:
        peer.host.run(["sysctl", "-qw", f"{key}={1 if on else 0}"], check=True)


def run(ctx: Context) -> dict:
    """Run the flows scenario against boxnet; return its results."""
    res = ctx.begin(NAME, TITLE)
    secs = ctx.pick(3, 10)
    reps = ctx.repetitions(2, 4)
    with ctx.peer("boxnet") as peer:
        if peer is None:
            return res
        peer.net_create(NET, 0)
        a = peer.run_container("fl-a", NET)
        b = peer.run_container("fl-b", NET)
        args = (peer.container_netns(a), peer.container_netns(b), peer.container_ip(a, NET),
                secs)
        on, off = [], []
        try:
            for i in range(reps):   # alternated, in both orders: drift hits both alike
                for state in ((False, True) if i % 2 == 0 else (True, False)):
                    _flows(peer, state)
                    (on if state else off).extend(iperf(*args))
        finally:
            _flows(peer, True)
        ctx.metric("c2c_flows_off", "container to container, flows off", "Gbit/s", "boxnet",
                   off, higher_is_better=True)
        ctx.metric("c2c_flows_on", "container to container, flows on", "Gbit/s", "boxnet",
                   on, higher_is_better=True)
    m = ctx.median_of
    ctx.goal("data plane with flows on: at least 95% of off",
             ratio(m("c2c_flows_on", "boxnet"), m("c2c_flows_off", "boxnet")), 0.95,
             higher_is_better=True)
    ctx.note(f"iperf3 TCP, one stream, -t {secs}, {reps} alternated run(s) each. Off: "
             "conntrack accounting and timestamps 0 in the daemon's netns (the events "
             "subscription stays: it costs per connection, not per packet).")
    return res
