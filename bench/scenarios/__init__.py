"""The scenarios, registered in ONE place: SCENARIOS maps a name to its module.

A scenario module has NAME, TITLE and ``run(ctx) -> dict`` (see bench/context.py). Adding
scenario N is: write bench/scenarios/<name>.py, add one line here.
"""

from __future__ import annotations

from bench.scenarios import compose, control_plane, dataplane, dns, fwscale, macvlan, overlay, scale
from bench.scenarios import bounded, churn, clients, seccomp, supervisor
from bench.scenarios import realrun
from bench.scenarios import stats
from bench.scenarios import pull
from bench.scenarios import cp
from bench.scenarios import cni_plugin
from bench.scenarios import plugin_docker
from bench.scenarios import policy
from bench.scenarios import diagnose
from bench.scenarios import flows

SCENARIOS = {
    control_plane.NAME: control_plane,
    scale.NAME: scale,
    dataplane.NAME: dataplane,
    clients.NAME: clients,
    overlay.NAME: overlay,
    dns.NAME: dns,
    macvlan.NAME: macvlan,
    fwscale.NAME: fwscale,
    compose.NAME: compose,
    seccomp.NAME: seccomp,
    bounded.NAME: bounded,
    churn.NAME: churn,
    supervisor.NAME: supervisor,
    realrun.NAME: realrun,
    stats.NAME: stats,
    pull.NAME: pull,
    cp.NAME: cp,
    cni_plugin.NAME: cni_plugin,
    plugin_docker.NAME: plugin_docker,
    policy.NAME: policy,
    diagnose.NAME: diagnose,
    flows.NAME: flows,
}
