"""Scenario: bounded buffers, a container cannot exhaust the daemon (issue 14 item 10).

- `exec -d yes` for a while: how much the daemon's RSS grows (Docker discards a
  detached exec's output; boxnet before this scenario existed grew by GiBs);
- `logs --tail 10` of a big log: the answer's time and the RSS growth (a tail
  that reads the whole file costs the file's size in memory and seconds);
- removal of a container whose writable layer holds many files (made inside
  it with busybox): how long it takes, and the worst GET /_ping latency seen
  meanwhile (an engine that removes on its event loop stalls for the whole
  removal).
The pass/fail versions of these (RSS within 50 MiB, < 1 s answers) are tests in
tests/integration/test_bounded.py; here are the numbers, side by side with Docker
when it is installed.
"""

from __future__ import annotations

import threading
import time

from bench.context import Context
from bench.peers.engine import EngineClient

NAME = "bounded"
TITLE = "10. Bounded buffers: daemon memory under chatty containers, removal of a big layer"
MiB = 1024.0


def _rss_mib(peer) -> float:
    return peer.rss().get("daemon_rss_kib", 0) / MiB


def _exec_detached_yes(ctx: Context, peer, seconds: float) -> None:
    cid = peer.run_container("bd-yes", "none")
    try:
        ex = peer.api.request("POST", f"/containers/{cid}/exec",
                              body={"Cmd": ["true"], "AttachStdout": False})["Id"]
        peer.api.request("POST", f"/exec/{ex}/start", body={"Detach": True})   # warm-up
        time.sleep(1)
        start = peak = _rss_mib(peer)
        ex = peer.api.request("POST", f"/containers/{cid}/exec",
                              body={"Cmd": ["yes"], "AttachStdout": False,
                                    "AttachStderr": False})["Id"]
        peer.api.request("POST", f"/exec/{ex}/start", body={"Detach": True})
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            peak = max(peak, _rss_mib(peer))
            time.sleep(0.5)
    finally:
        peer.remove_container(cid)
    ctx.metric("exec_d_yes_rss", f"daemon RSS growth over {seconds:.0f} s of `exec -d yes`",
               "MiB", peer.name, [peak - start])


def _logs_tail(ctx: Context, peer, size: int, reps: int) -> None:
    cid = peer.api.request("POST", "/containers/create", body={
        "Image": "busybox:latest", "HostConfig": {"NetworkMode": "none"},
        "Cmd": ["sh", "-c", f"yes abcdefghi | head -c {size}; seq 1 20"]})["Id"]
    try:
        peer.api.request("POST", f"/containers/{cid}/start")
        peer.api.request("POST", f"/containers/{cid}/wait")
        times, growth = [], []
        for _ in range(reps):
            before = _rss_mib(peer)
            t0 = time.perf_counter()
            peer.api.request("GET", f"/containers/{cid}/logs",
                             query={"stdout": 1, "stderr": 1, "tail": 10})
            times.append((time.perf_counter() - t0) * 1000)
            growth.append(max(0.0, _rss_mib(peer) - before))
    finally:
        peer.remove_container(cid)
    mb = size / 1e6
    ctx.metric("logs_tail_ms", f"logs --tail 10 of a {mb:.0f} MB log", "ms", peer.name, times)
    ctx.metric("logs_tail_rss", f"daemon RSS growth after logs --tail 10 ({mb:.0f} MB log)",
               "MiB", peer.name, growth)


def _removal(ctx: Context, peer, dirs: int, per_dir: int) -> None:
    cid = peer.run_container("bd-big", "none")
    make = (f"mkdir /m && cd /m && for d in $(seq 1 {dirs}); do mkdir $d && "
            f"(cd $d && seq 1 {per_dir} | xargs touch); done")
    ex = peer.api.request("POST", f"/containers/{cid}/exec",
                          body={"Cmd": ["sh", "-c", make], "AttachStdout": False})["Id"]
    peer.api.request("POST", f"/exec/{ex}/start", body={"Detach": True})
    while peer.api.request("GET", f"/exec/{ex}/json")["Running"]:
        time.sleep(0.5)
    pings: list[float] = []
    stop = threading.Event()

    def ping() -> None:   # its own connection: the main one is busy with the removal
        client = EngineClient(peer.sock, timeout=120)
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                client.ping()
                pings.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.02)
        finally:
            client.close()
    t = threading.Thread(target=ping)
    t.start()
    try:
        time.sleep(0.3)
        t0 = time.perf_counter()
        peer.remove_container(cid)
        took = time.perf_counter() - t0
    finally:
        stop.set()
        t.join()
    n = dirs * per_dir
    ctx.metric("remove_big_s", f"rm -f of a container with {n} files", "s", peer.name, [took])
    if pings:
        ctx.metric("remove_big_ping", "worst GET /_ping during that removal", "ms", peer.name,
                   [max(pings)])


def run(ctx: Context) -> dict:
    """Measure boxnet (and Docker when installed)."""
    res = ctx.begin(NAME, TITLE)
    seconds = ctx.pick(10, 30)
    size = ctx.pick(100_000_000, 300_000_000)
    dirs, per_dir = ctx.pick((20, 1000), (200, 1000))
    reps = ctx.repetitions(3, 5)
    for name in ("boxnet", "docker"):
        with ctx.peer(name) as peer:
            if peer is None:
                continue
            _exec_detached_yes(ctx, peer, seconds)
            _logs_tail(ctx, peer, size, reps)
            _removal(ctx, peer, dirs, per_dir)
    m = ctx.median_of
    ctx.goal("exec -d yes: boxnetd grows by at most 50 MiB", m("exec_d_yes_rss", "boxnet"), 50)
    ctx.goal("logs --tail 10 of a big log answers within 100 ms", m("logs_tail_ms", "boxnet"), 100)
    ctx.goal("GET /_ping answers within 100 ms while a big layer is removed",
             m("remove_big_ping", "boxnet"), 100)
    ctx.note("Files are made inside the container with busybox (seq | xargs touch), so any "
             "engine's storage holds them; the removal is timed through the API, as rm -f.")
    return res
