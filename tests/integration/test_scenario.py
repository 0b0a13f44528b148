"""Docker's networking guide, run with boxnet's CLI: create a bridge network,
two containers on it, ping one from the other, inspect both in Docker's shape."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

pytestmark = pytest.mark.kernel

NETWORK_KEYS = {"Name", "Id", "Created", "Scope", "Driver", "EnableIPv4", "EnableIPv6", "IPAM",
                "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers",
                "Options", "Labels"}
ENDPOINT_KEYS = {"IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "NetworkID",
                 "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway",
                 "GlobalIPv6Address", "GlobalIPv6PrefixLen", "DNSNames"}
MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


@pytest.fixture(scope="module")
def scenario(host):
    """The guide's commands, exactly as a user types them (program name aside)."""
    host.cli("network", "create", "-d", "bridge", "my-net")
    host.cli("run", "--network=my-net", "-itd", "--name=container3", "busybox")
    host.cli("run", "--network=my-net", "-d", "--name=container4", "busybox", "sleep", "3600")
    return host


def test_containers_run(scenario):
    """Both containers are running."""
    for name in ("container3", "container4"):
        state = scenario.inspect(name)["State"]
        assert state["Running"] and state["Status"] == "running", f"{name}: {state}"


def test_ping_peer_by_ip(scenario):
    """container3 pings container4's address from inspect."""
    ip4 = scenario.ip_of("container4", "my-net")
    r = scenario.exec("container3", "ping", "-c1", "-W2", ip4)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 packets received" in r.stdout


def test_exec_reports_failure(scenario):
    """Control: an unused address of the subnet does not answer, and exec says so."""
    net = ipaddress.ip_network(scenario.network("my-net")["IPAM"]["Config"][0]["Subnet"])
    used = {scenario.ip_of(c, "my-net") for c in ("container3", "container4")}
    free = next(str(a) for a in list(net.hosts())[50:] if str(a) not in used)
    r = scenario.exec("container3", "ping", "-c1", "-W1", free)
    assert r.returncode != 0


def test_network_inspect_shape(scenario):
    """`network inspect` prints Docker's JSON shape and lists both containers."""
    out = json.loads(scenario.cli("network", "inspect", "my-net").stdout)
    assert isinstance(out, list) and len(out) == 1
    net = out[0]
    assert NETWORK_KEYS <= set(net), f"missing keys {NETWORK_KEYS - set(net)}"
    assert net["Name"] == "my-net" and re.fullmatch(r"[0-9a-f]{64}", net["Id"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", net["Created"])
    assert (net["Scope"], net["Driver"]) == ("local", "bridge")
    assert net["EnableIPv4"] is True and net["EnableIPv6"] is False
    assert net["Internal"] is False and net["Attachable"] is False and net["Ingress"] is False
    assert net["ConfigFrom"] == {"Network": ""} and net["ConfigOnly"] is False
    assert isinstance(net["Options"], dict) and isinstance(net["Labels"], dict)
    ipam = net["IPAM"]
    assert ipam["Driver"] == "default" and "Options" in ipam
    cfg = ipam["Config"][0]
    subnet = ipaddress.ip_network(cfg["Subnet"])
    assert ipaddress.ip_address(cfg["Gateway"]) in subnet
    ids = {scenario.inspect(c)["Id"]: c for c in ("container3", "container4")}
    assert set(net["Containers"]) == set(ids), net["Containers"]
    for cid, ep in net["Containers"].items():
        assert ep["Name"] == ids[cid]
        assert re.fullmatch(r"[0-9a-f]{64}", ep["EndpointID"])
        assert MAC.match(ep["MacAddress"]), ep
        iface = ipaddress.ip_interface(ep["IPv4Address"])
        assert "/" in ep["IPv4Address"] and iface.network == subnet
        assert ep["IPv6Address"] == ""
    assert scenario.network("my-net")["Id"] == net["Id"]


def test_container_inspect_endpoint(scenario):
    """Container inspect's endpoint agrees with network inspect."""
    net = scenario.network("my-net")
    info = scenario.inspect("container4")
    ep = info["NetworkSettings"]["Networks"]["my-net"]
    assert ENDPOINT_KEYS <= set(ep), f"missing keys {ENDPOINT_KEYS - set(ep)}"
    listed = net["Containers"][info["Id"]]
    assert ep["NetworkID"] == net["Id"]
    assert ep["EndpointID"] == listed["EndpointID"]
    assert ep["MacAddress"] == listed["MacAddress"]
    assert f"{ep['IPAddress']}/{ep['IPPrefixLen']}" == listed["IPv4Address"]
    assert ep["Gateway"] == net["IPAM"]["Config"][0]["Gateway"]
    assert ep["IPv6Gateway"] == "" and ep["GlobalIPv6Address"] == "" and ep["GlobalIPv6PrefixLen"] == 0
    assert "container4" in ep["DNSNames"]


def test_kernel_matches_inspect(scenario):
    """What inspect says is what the container and the host netns hold."""
    net = scenario.network("my-net")
    ep = scenario.inspect("container4")["NetworkSettings"]["Networks"]["my-net"]
    r = scenario.exec("container4", "ip", "-o", "-4", "addr", "show", "eth0", check=True)
    assert f"{ep['IPAddress']}/{ep['IPPrefixLen']}" in r.stdout
    mac = scenario.exec("container4", "cat", "/sys/class/net/eth0/address", check=True).stdout.strip()
    assert mac == ep["MacAddress"]
    route = scenario.exec("container4", "ip", "route", check=True).stdout
    assert f"default via {ep['Gateway']}" in route
    bridge = "br-" + net["Id"][:12]
    ports = json.loads(scenario.sh(["ip", "-j", "link", "show", "master", bridge]).stdout)
    assert len(ports) == 2, f"{bridge} ports: {[p['ifname'] for p in ports]}"
    addrs = scenario.sh(["ip", "-o", "-4", "addr", "show", "dev", bridge]).stdout
    assert ep["Gateway"] + "/" in addrs
