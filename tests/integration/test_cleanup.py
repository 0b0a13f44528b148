"""After removing every container and user network, nothing boxnet made for
them remains: no bridge, veth, netns pin, nft rule or store row."""

from __future__ import annotations

import pytest

from integration.checks import clean_state_check

pytestmark = pytest.mark.kernel


def test_nothing_left_after_removal(make_host):
    """Bridges, veths, pins, nft objects and rows of removed objects are all gone."""
    h = make_host()
    h.cli("network", "create", "cl-a")
    h.cli("network", "create", "--ipv6", "--subnet", "10.251.0.0/24", "--subnet", "fd00:51::/64",
          "-o", "com.docker.network.bridge.name=clbr0", "cl-b")
    h.cli("run", "-d", "--name", "k1", "--network", "cl-a", "busybox", "sleep", "3600")
    h.cli("run", "-d", "--name", "k2", "--network", "cl-b", "--ip", "10.251.0.9",
          "busybox", "sleep", "3600")
    h.cli("network", "connect", "cl-b", "k1")
    h.cli("run", "-d", "--name", "k3", "busybox", "sleep", "3600")          # default bridge
    h.cli("run", "-d", "--name", "k4", "--network", "none", "busybox", "sleep", "3600")
    h.cli("run", "-d", "--name", "k5", "--network", "host", "busybox", "sleep", "3600")
    h.api_ok("POST", "/containers/create?name=k6", json={   # created, never started
        "Image": "busybox", "Cmd": ["sleep", "3600"], "HostConfig": {"NetworkMode": "cl-a"}})
    assert h.exec("k1", "ping", "-c1", "-W2", "10.251.0.9").returncode == 0
    names = [c["Names"][0].lstrip("/") for c in h.api_ok("GET", "/containers/json?all=1")]
    containers = [h.inspect(n) for n in names]
    networks = [h.network(n) for n in ("cl-a", "cl-b")]
    assert "clbr0" in h.link_names()

    # Control: the check does see live objects, so it can fail.
    with pytest.raises(AssertionError):
        clean_state_check(h, networks, containers)

    h.cli("rm", "-f", *names)
    h.cli("network", "rm", "cl-a", "cl-b")
    assert h.api_ok("GET", "/containers/json?all=1") == []
    assert {n["Name"] for n in h.api_ok("GET", "/networks")} == {"bridge", "host", "none"}
    clean_state_check(h, networks, containers)


def test_nothing_left_after_restart(make_host):
    """Removal done, daemon restarted: reconciliation must not bring anything back."""
    h = make_host()
    h.cli("network", "create", "cr-a")
    h.cli("run", "-d", "--name", "r1", "--network", "cr-a", "busybox", "sleep", "3600")
    containers, networks = [h.inspect("r1")], [h.network("cr-a")]
    h.cli("rm", "-f", "r1")
    h.cli("network", "rm", "cr-a")
    h.restart()
    clean_state_check(h, networks, containers)
