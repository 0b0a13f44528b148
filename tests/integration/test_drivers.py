"""The none and host drivers, and the predefined networks bridge/host/none."""

from __future__ import annotations

import json

import pytest

from integration.outside import Outside

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def world(host):
    """The module host with an outside veth (a host interface a container must see)."""
    Outside(host)  # torn down with the host
    return host


def names_from_ip_o_link(text: str) -> set[str]:
    """Interface names from `ip -o link` lines ("2: eth0@if5: <...")."""
    return {line.split(":")[1].strip().split("@")[0] for line in text.splitlines() if line.strip()}


def test_none_has_only_lo(world):
    """A --network none container has only lo, and no address but 127.0.0.1."""
    world.cli("run", "-d", "--name", "n1", "--network", "none", "busybox", "sleep", "3600")
    info = world.inspect("n1")
    assert info["State"]["Running"]
    assert list(info["NetworkSettings"]["Networks"]) == ["none"]
    assert world.exec("n1", "ls", "/sys/class/net", check=True).stdout.split() == ["lo"]
    assert names_from_ip_o_link(world.exec("n1", "ip", "-o", "link", check=True).stdout) == {"lo"}
    addrs = world.exec("n1", "ip", "-o", "addr", check=True).stdout
    assert "inet " not in addrs.replace("inet 127.0.0.1/8", ""), addrs


def test_host_sees_host_interfaces(world):
    """A --network host container sees exactly the test host's interfaces."""
    world.cli("run", "-d", "--name", "h1", "--network", "host", "busybox", "sleep", "3600")
    info = world.inspect("h1")
    assert info["State"]["Running"]
    assert list(info["NetworkSettings"]["Networks"]) == ["host"]
    inside = names_from_ip_o_link(world.exec("h1", "ip", "-o", "link", check=True).stdout)
    hostns = set(world.link_names())
    assert inside == hostns
    assert "bxo0" in inside, "the test host's outside veth is not visible"
    assert "eth0" not in inside, "the container sees the machine's root netns, not the test host"
    assert world.exec("h1", "ip", "-o", "-4", "addr", check=True).stdout.count("198.18.0.1/30") == 1


def test_predefined_networks_listed(world):
    """bridge (boxnet0, 172.17/16), host and none exist from the start."""
    nets = {n["Name"]: n for n in world.api_ok("GET", "/networks")}
    assert {"bridge", "host", "none"} <= set(nets)
    assert nets["bridge"]["Driver"] == "bridge"
    assert nets["host"]["Driver"] == "host"
    assert nets["none"]["Driver"] == "null"
    listed = world.cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert {"bridge", "host", "none"} <= set(listed)
    bridge = world.network("bridge")
    assert bridge["IPAM"]["Config"][0]["Subnet"] == "172.17.0.0/16"
    assert bridge["Options"].get("com.docker.network.bridge.name") == "boxnet0"
    assert "boxnet0" in world.link_names()


def test_default_bridge_container(world):
    """`run` without --network lands on the predefined bridge, on boxnet0."""
    world.cli("run", "-d", "--name", "bd1", "busybox", "sleep", "3600")
    world.cli("run", "-d", "--name", "bd2", "busybox", "sleep", "3600")
    ip = world.ip_of("bd2", "bridge")
    assert ip.startswith("172.17.")
    assert world.exec("bd1", "ping", "-c1", "-W2", ip).returncode == 0
    ports = json.loads(world.sh(["ip", "-j", "link", "show", "master", "boxnet0"]).stdout)
    assert len(ports) >= 2


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_rm_predefined_forbidden(world, name):
    """API and CLI refuse to remove a predefined network (403), it stays."""
    before = world.network(name)
    status, body = world.api("DELETE", f"/networks/{name}")
    assert status == 403, (status, body)
    assert body["message"]
    r = world.cli("network", "rm", name, check=False)
    assert r.returncode != 0 and r.stderr.strip()
    assert world.network(name)["Id"] == before["Id"]
