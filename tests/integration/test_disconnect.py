"""`network disconnect` with the veth deletion off the request path.

What a user sees must not change: once the API answers, the container has no
such interface any more (no ``ethN``, no address, nothing up but what it keeps),
the same container can be connected again at once under the same name, and the
address is free for another container at once.  The deletion itself happens in
the background; a daemon killed before it ran leaves nothing behind after its
restart (reconcile).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

pytestmark = pytest.mark.kernel

PORT = "7777"


def ns_links(netns: str) -> list[dict]:
    """`ip -j addr` inside a pinned netns, read from outside the container."""
    out = subprocess.run(["nsenter", f"--net={netns}", "ip", "-j", "addr", "show"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


def addrs_of(links: list[dict]) -> set[str]:
    """Every address in an `ip -j addr` listing."""
    return {a["local"] for li in links for a in li.get("addr_info", [])}


def wait_until(pred, timeout: float = 10.0) -> bool:
    """Poll pred until it is true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def garbage(names) -> list[str]:
    """The links retired by boxnet (kernel/linkgc.py) among names."""
    return [n for n in names if n.startswith("bxgc-")]


@pytest.fixture(scope="module")
def net(host):
    """net-x (10.251.0.0/24) and net-y; `box` runs on net-y."""
    host.cli("network", "create", "--subnet", "10.251.0.0/24", "net-x")
    host.cli("network", "create", "net-y")
    host.cli("run", "-d", "--name", "box", "--network", "net-y", "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "peer", "--network", "net-x", "busybox", "sleep", "3600")
    return host


def connect(h, net: str, cont: str, ip: str = "") -> None:
    body = {"Container": cont}
    if ip:
        body["EndpointConfig"] = {"IPAMConfig": {"IPv4Address": ip}}
    h.api_ok("POST", f"/networks/{net}/connect", json=body)


def disconnect(h, net: str, cont: str) -> None:
    h.api_ok("POST", f"/networks/{net}/disconnect", json={"Container": cont})


def test_interface_gone_from_container_when_disconnect_returns(net):
    """Right after the answer: no eth1, no address of net-x, nothing of it up."""
    h = net
    sandbox = h.inspect("box")["NetworkSettings"]["SandboxKey"]
    connect(h, "net-x", "box", "10.251.0.50")
    before = ns_links(sandbox)
    assert "eth1" in {li["ifname"] for li in before} and "10.251.0.50" in addrs_of(before)
    disconnect(h, "net-x", "box")
    after = ns_links(sandbox)          # no wait: what the container sees now
    assert "eth1" not in {li["ifname"] for li in after}, after
    assert "10.251.0.50" not in addrs_of(after), after
    up = [li["ifname"] for li in after if "UP" in li.get("flags", [])]
    assert sorted(up) == ["eth0", "lo"], after
    # in-container view (what `ip link` in the container prints), and the background
    # deletion finishes: no retired link is left in the container or on the host
    assert "eth1" not in h.exec("box", "ip", "link", check=True).stdout
    assert wait_until(lambda: not garbage(li["ifname"] for li in ns_links(sandbox)))
    assert wait_until(lambda: not garbage(h.link_names())), h.link_names()


def test_reconnect_at_once_same_name_and_address(net):
    """Disconnect then connect again, no pause: eth1 again, same static address, reachable."""
    h = net
    for _ in range(3):
        connect(h, "net-x", "box", "10.251.0.51")
        disconnect(h, "net-x", "box")
    connect(h, "net-x", "box", "10.251.0.51")
    sandbox = h.inspect("box")["NetworkSettings"]["SandboxKey"]
    links = {li["ifname"]: li for li in ns_links(sandbox)}
    assert "eth1" in links and "UP" in links["eth1"]["flags"]
    assert "10.251.0.51" in addrs_of([links["eth1"]])
    assert h.exec("peer", "ping", "-c1", "-W2", "10.251.0.51").returncode == 0
    disconnect(h, "net-x", "box")


def test_address_free_for_another_container_at_once(net):
    """The disconnected address, taken by a new container right away, answers from it."""
    h = net
    connect(h, "net-x", "box", "10.251.0.60")
    disconnect(h, "net-x", "box")
    cid = h.api_ok("POST", "/containers/create?name=taker", json={
        "Image": "busybox", "Cmd": ["sh", "-c", f"nc -ll -p {PORT} -e echo taker"],
        "HostConfig": {"NetworkMode": "net-x"},
        "NetworkingConfig": {"EndpointsConfig": {"net-x": {
            "IPAMConfig": {"IPv4Address": "10.251.0.60"}}}}})["Id"]
    h.api_ok("POST", f"/containers/{cid}/start")
    try:
        r = h.exec("peer", "sh", "-c", f"timeout 3 nc -w2 10.251.0.60 {PORT} </dev/null")
        assert r.returncode == 0 and "taker" in r.stdout, (r.stdout, r.stderr)
        assert h.exec("box", "ping", "-c1", "-W1", h.ip_of("peer", "net-x")).returncode != 0
    finally:
        h.api_ok("DELETE", f"/containers/{cid}?force=1")


def test_sigkill_right_after_disconnect_leaves_nothing(make_host):
    """SIGKILL right after disconnect answers: nothing of the pair is left (host or
    container) even before the restart, and after it the container runs on and
    reconnects (the deletion a SIGKILL could have cut short is the kernel's own)."""
    h = make_host()
    h.cli("network", "create", "--subnet", "10.252.0.0/24", "net-z")
    h.cli("run", "-d", "--name", "cz", "busybox", "sleep", "3600")
    sandbox = h.inspect("cz")["NetworkSettings"]["SandboxKey"]
    pid = h.inspect("cz")["State"]["Pid"]
    connect(h, "net-z", "cz")
    disconnect(h, "net-z", "cz")
    h.kill9()
    assert not garbage(h.link_names()), h.link_names()
    inner = [li["ifname"] for li in ns_links(sandbox)]
    assert not garbage(inner) and "eth1" not in inner, inner
    h.start(*h.daemon_args)
    assert not garbage(h.link_names())
    info = h.inspect("cz")
    assert info["State"]["Running"] and info["State"]["Pid"] == pid
    assert set(info["NetworkSettings"]["Networks"]) == {"bridge"}
    connect(h, "net-z", "cz", "10.252.0.9")
    assert "10.252.0.9" in addrs_of(ns_links(sandbox))
