"""Scenario: `run -d` of a real project's service (issue 16's performance target).

- `run -d` (create + start) of a busybox container with a named volume mounted
  and a healthcheck, on a user bridge: boxnet and Docker, through the API (no
  client start-up); the volume is made by the create, as `-v name:/data` does.
- a probe's own duration (End - Start of `true` as CMD, from State.Health.Log):
  what one healthcheck exec costs each engine.
- the time from start to healthy with a 100 ms interval (first probe after one
  interval, as dockerd): the loop's scheduling overhead above the interval.
One untimed warm-up, then `reps` timed repetitions.
"""

from __future__ import annotations

import datetime
import re
import time

from bench.context import Context
from bench.stats import ratio

NAME = "realrun"
TITLE = "16. run -d with a named volume and a healthcheck"
MS = 1000.0
NS = 1_000_000
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _ts(text: str) -> float:
    """Seconds of an RFC 3339 timestamp with nanoseconds, Z or +hh:mm (Go's form)."""
    m = _RFC3339.match(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    base = datetime.datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    return base.timestamp() + float("0" + (m.group(2) or ".0"))


def _wait_healthy(peer, cid: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = peer.inspect_container(cid)["State"].get("Health") or {}
        if h.get("Status") == "healthy":
            return h
        time.sleep(0.01)
    raise RuntimeError(f"{peer.name}: container {cid[:12]} not healthy after {timeout}s")


def _run(ctx: Context, peer, reps: int) -> None:
    net = peer.create_network("rr-net")
    runs, probes, to_healthy = [], [], []
    try:
        for i in range(reps + 1):
            vol = f"rr-vol-{i}"
            t0 = time.perf_counter()
            cid = peer.api.request("POST", "/containers/create", query={"name": f"rr-{i}"}, body={
                "Image": "busybox:latest", "Cmd": ["sleep", "3600"],
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 100 * NS,
                                "Retries": 3},
                "HostConfig": {"NetworkMode": net, "Binds": [f"{vol}:/data"]}})["Id"]
            peer.api.request("POST", f"/containers/{cid}/start")
            t = time.perf_counter() - t0
            t_start = time.perf_counter()
            h = _wait_healthy(peer, cid)
            t_h = time.perf_counter() - t_start
            e = h["Log"][-1]
            peer.remove_container(cid)
            peer.api.request("DELETE", f"/volumes/{vol}")
            if i:
                runs.append(t * MS)
                to_healthy.append(t_h * MS)
                probes.append((_ts(e["End"]) - _ts(e["Start"])) * MS)
    finally:
        peer.remove_network(net)
    ctx.metric("run_d_vol_hc", "`run -d` with a named volume and a healthcheck", "ms",
               peer.name, runs)
    ctx.metric("probe", "one probe (`true` as CMD): End - Start in State.Health.Log", "ms",
               peer.name, probes)
    ctx.metric("to_healthy", "start returned -> healthy, 100 ms interval", "ms", peer.name,
               to_healthy)


def run(ctx: Context) -> dict:
    """Run the scenario against boxnet and Docker; return its results."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(8, 30)
    for name in ("boxnet", "docker"):
        with ctx.peer(name) as peer:
            if peer is not None:
                _run(ctx, peer, reps)
    m = ctx.median_of
    ctx.goal("`run -d` with a named volume and a healthcheck: at most 0.25x Docker's",
             ratio(m("run_d_vol_hc", "boxnet"), m("run_d_vol_hc", "docker")), 0.25)
    return res
