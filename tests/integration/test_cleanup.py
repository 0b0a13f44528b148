"""After removing every container and user network, nothing boxnet made for
them remains: no bridge, veth, netns pin, nft rule or store row.

boxnetd answers a removal before the kernel's slow link deletions are done
(kernel/linkgc.py): the checks wait for those (cleanup.wait_dying_gone), and
the daemon log proves the netns died by itself (the reaper did not have to
delete a veth whose netns was still held)."""

from __future__ import annotations

import secrets

import pytest

from boxnet.kernel.linkmark import owner_id
from integration import cleanup
from integration.checks import clean_state_check

pytestmark = pytest.mark.kernel
REAPER_WARNING = "after its sandbox was released"


def _log(h) -> str:
    return h.log_path.read_text(errors="replace")


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
    assert REAPER_WARNING not in _log(h), "a released netns did not die by itself"


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


def test_subnet_and_bridge_name_reusable_at_once(make_host):
    """network rm, then at once a network with the same subnet and bridge name:
    one route for the subnet, the same static IP, containers ping each other."""
    h = make_host()
    opts = ["--subnet", "10.254.7.0/24", "-o", "com.docker.network.bridge.name=clre0"]
    h.cli("network", "create", *opts, "re-a")
    h.cli("run", "-d", "--name", "q1", "--network", "re-a", "--ip", "10.254.7.9",
          "busybox", "sleep", "3600")
    h.cli("rm", "-f", "q1")
    h.cli("network", "rm", "re-a")
    h.cli("network", "create", *opts, "re-b")
    h.cli("run", "-d", "--name", "q2", "--network", "re-b", "--ip", "10.254.7.9",
          "busybox", "sleep", "3600")
    h.cli("run", "-d", "--name", "q3", "--network", "re-b", "busybox", "sleep", "3600")
    assert h.exec("q3", "ping", "-c1", "-W2", "10.254.7.9").returncode == 0
    assert h.exec("q2", "ping", "-c1", "-W2", "10.254.7.1").returncode == 0
    routes = h.sh(["ip", "-4", "route", "show", "10.254.7.0/24"]).stdout.strip().splitlines()
    assert len(routes) == 1 and "dev clre0" in routes[0], routes
    assert h.network("re-b")["Options"]["com.docker.network.bridge.name"] == "clre0"
    h.cli("rm", "-f", "q2", "q3")
    h.cli("network", "rm", "re-b")
    assert not cleanup.wait_dying_gone(h.links)
    assert REAPER_WARNING not in _log(h)


def test_cut_short_teardown_reconciled_at_restart(make_host):
    """A daemon killed while links of removed objects are still dying, or a
    background deletion that failed: start-up removes what they left."""
    h = make_host()
    h.cli("network", "create", "cs-a")
    h.cli("run", "-d", "--name", "s1", "--network", "cs-a", "busybox", "sleep", "3600")
    containers, networks = [h.inspect("s1")], [h.network("cs-a")]
    h.cli("rm", "-f", "s1")
    h.cli("network", "rm", "cs-a")
    h.kill9()   # most likely before the background deletion of the bridge ran
    # What an interrupted or failed deletion leaves: a retired bridge and a
    # down veth of a removed endpoint (its peer in a netns kept alive).
    garbage = "bxgc-" + secrets.token_hex(5)
    veth = "veth" + secrets.token_hex(6)[:11]
    # both carry this daemon's ownership mark, as the daemon's own would (only
    # marked links are ever removed: test_ownership.py keeps unmarked ones)
    mark = "boxnet:" + owner_id(str(h.data_root)) + ":"
    h.sh(["ip", "link", "add", garbage, "type", "bridge"])
    h.sh(["ip", "link", "set", garbage, "alias", mark + "bridge"])
    h.sh(["ip", "link", "add", veth, "master", garbage, "type", "veth", "peer", "name", "clpeer0"])
    h.sh(["ip", "link", "set", veth, "alias", mark + "veth"])
    names = set(h.link_names())
    assert {garbage, veth} <= names, "control: the planted leftovers exist"
    h.start(*h.daemon_args)
    left = set(h.link_names()) & {garbage, veth, "clpeer0"}
    assert not left, f"start-up kept {sorted(left)}"
    clean_state_check(h, networks, containers)
