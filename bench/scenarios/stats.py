"""Scenario: `docker stats` answer time (issue 16, performance).

One busybox container on the default bridge per peer; each measurement is one
GET /containers/{id}/stats: `stream=false` (what `docker stats --no-stream` and
docker-py's `stats(stream=False)` send: the reply carries a precpu reading, for
which dockerd waits for its collector's next tick, ~1-2 s) and
`stream=false&one-shot=true` (one reading, no precpu).  boxnet reads its cgroup
files and one netlink link dump; for precpu it reads twice 0.1 s apart.
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.stats import ratio

NAME = "stats"
TITLE = "17. Stats: one container's stats answer time"
MS = 1000.0


def _timed(peer, cid: str, query: dict) -> float:
    t0 = time.perf_counter()
    body = peer.api.request("GET", f"/containers/{cid}/stats", query=query)
    elapsed = (time.perf_counter() - t0) * MS
    if not isinstance(body, dict) or "memory_stats" not in body:
        raise RuntimeError(f"stats of {cid[:12]}: unexpected answer {str(body)[:200]}")
    return elapsed


def run(ctx: Context) -> dict:
    """Measure stats stream=false and one-shot on boxnet and Docker."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(5, 15)
    for name in ("boxnet", "docker"):
        with ctx.peer(name) as peer:
            if peer is None:
                continue
            peer.ensure_busybox()
            cid = peer.run_container("bench-stats", "bridge")
            try:
                no_stream, one_shot = [], []
                for _ in range(reps):   # interleaved: a drift of the machine hits both
                    no_stream.append(_timed(peer, cid, {"stream": "false"}))
                    one_shot.append(_timed(peer, cid, {"stream": "false", "one-shot": "true"}))
            finally:
                peer.remove_container(cid)
            ctx.metric("stats_no_stream", "stats stream=false (docker stats --no-stream)",
                       "ms", peer.name, no_stream)
            ctx.metric("stats_one_shot", "stats stream=false&one-shot=true", "ms",
                       peer.name, one_shot)
    m = ctx.median_of
    ctx.goal("stats stream=false: at most Docker's time",
             ratio(m("stats_no_stream", "boxnet"), m("stats_no_stream", "docker")), 1.0)
    ctx.goal("stats one-shot: at most Docker's time",
             ratio(m("stats_one_shot", "boxnet"), m("stats_one_shot", "docker")), 1.0)
    ctx.note("Docker's stream=false waits for its stats collector's next reading to fill "
             "precpu_stats (about 1-2 s by design); boxnet takes its precpu reading 0.1 s "
             "before the one it reports.")
    return res
