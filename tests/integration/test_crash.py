"""SIGKILL boxnetd in the middle of a burst of concurrent connects and
disconnects, restart it, and find store and kernel consistent: no address
handed out twice, no orphan veth, containers still running and reachable,
further connects working."""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter

import pytest

from integration.checks import store_ids, veth_consistency

pytestmark = pytest.mark.kernel

NAMES = [f"x{i}" for i in range(6)]
CHURN = NAMES[1:5]          # x0 and x5 stay put and must keep talking


def burst_then_kill(h, network_id: str, min_ops: int = 8) -> int:
    """Connect/disconnect CHURN concurrently; SIGKILL the daemon mid-burst; return ops done."""
    done = Counter()
    stop = threading.Event()

    def worker(name: str) -> None:
        """Connect then disconnect one container until told to stop."""
        while not stop.is_set():
            try:
                for action in ("connect", "disconnect"):
                    h.api("POST", f"/networks/{network_id}/{action}",
                          json={"Container": name}, timeout=10)
                    done[name] += 1
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in CHURN]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(done.values()) < min_ops and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(random.uniform(0, 0.05))
    h.kill9()
    stop.set()
    for t in threads:
        t.join(15)
    assert sum(done.values()) >= min_ops, "the burst never got going"
    return sum(done.values())


def assert_consistent(h) -> None:
    """Store, API and kernel agree; no address is used twice on a network."""
    infos = {n: h.inspect(n) for n in NAMES}
    for n, info in infos.items():
        assert info["State"]["Running"], f"{n} not running after the restart: {info['State']}"
    seen: dict[tuple[str, str], str] = {}
    reported_eps = set()
    for n, info in infos.items():
        for net, ep in info["NetworkSettings"]["Networks"].items():
            reported_eps.add(ep["EndpointID"])
            for addr in (ep["IPAddress"], ep["GlobalIPv6Address"]):
                if addr:
                    other = seen.setdefault((net, addr), n)
                    assert other == n, f"{addr} on {net} held by {other} and {n}"
    for net in ("crash-a", "crash-b"):
        listed = h.network(net)["Containers"]
        by_api = {info["Id"] for info in infos.values() if net in info["NetworkSettings"]["Networks"]}
        assert set(listed) == by_api, f"{net}: network inspect and container inspect disagree"
        addrs = [e["IPv4Address"] for e in listed.values()]
        assert len(addrs) == len(set(addrs)), f"{net}: duplicate addresses {addrs}"
    assert store_ids(h)["endpoints"] == reported_eps, "store endpoints != endpoints the API reports"
    veth_consistency(h, NAMES)


def test_sigkill_during_connect_burst(make_host):
    """Two rounds of burst + SIGKILL + restart, then consistency and new connects."""
    h = make_host()
    h.cli("network", "create", "--subnet", "10.252.0.0/24", "crash-a")
    h.cli("network", "create", "--subnet", "10.253.0.0/24", "crash-b")
    for n in NAMES:
        h.cli("run", "-d", "--name", n, "--network", "crash-a", "busybox", "sleep", "3600")
    pids = {n: h.inspect(n)["State"]["Pid"] for n in NAMES}
    net_b = h.network("crash-b")["Id"]

    for _round in range(2):
        burst_then_kill(h, net_b)
        h.start(*h.daemon_args)
        assert_consistent(h)
        assert {n: h.inspect(n)["State"]["Pid"] for n in NAMES} == pids, "containers were restarted"
        r = h.exec("x0", "ping", "-c1", "-W2", h.ip_of("x5", "crash-a"))
        assert r.returncode == 0, "x0 cannot reach x5 after the restart"

    for n in CHURN:   # further connects work, with fresh unique addresses
        if "crash-b" not in h.inspect(n)["NetworkSettings"]["Networks"]:
            h.cli("network", "connect", "crash-b", n)
    assert_consistent(h)
    r = h.exec(CHURN[0], "ping", "-c1", "-W2", h.ip_of(CHURN[-1], "crash-b"))
    assert r.returncode == 0, "peers on crash-b cannot reach each other after the restarts"
    h.cli("network", "disconnect", "crash-b", CHURN[0])
    assert "crash-b" not in h.inspect(CHURN[0])["NetworkSettings"]["Networks"]
    veth_consistency(h, NAMES)
