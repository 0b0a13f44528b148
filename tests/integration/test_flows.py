"""Live flows (issue 20 section 3) from the kernel's conntrack: a TCP and a
UDP exchange between containers, seen through `GET /boxnet/v1/flows` and
`boxnet flows --format json` with both ends named (container, network), the
ports, protocol, bytes and packets each way and the verdict; `--follow`
delivers a flow made after it started."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from integration.harness import BOXNET
from integration.netprobe import CLIENT, server_cmd, wait_ready

pytestmark = pytest.mark.kernel
NET, SUBNET = "flownet", "10.95.0.0/24"
PORT = 7400


@pytest.fixture(scope="module")
def world(host):
    host.cli("network", "create", "--subnet", SUBNET, NET)
    host.cli("run", "-d", "--name", "fsrv", "--network", NET, "boxnet/host",
             *server_cmd(PORT))
    host.cli("run", "-d", "--name", "fcli", "--network", NET, "boxnet/host", "sleep", "600")
    wait_ready(host, "fsrv", PORT)
    return host, host.ip_of("fsrv", NET), host.ip_of("fcli", NET)


def _exchange(host, proto: str, ip: str) -> None:
    r = host.exec("fcli", "python3", "-c", CLIENT, proto, ip, str(PORT), timeout=30)
    assert r.returncode == 0 and "FAIL" not in r.stdout, r.stdout + r.stderr


def _flows(host, *query: str) -> list[dict]:
    status, body = host.api("GET", "/boxnet/v1/flows" + ("?" + "&".join(query) if query else ""))
    assert status == 200, body
    text = body if isinstance(body, str) else json.dumps(body)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _find(flows, proto, sip, dip):
    return [f for f in flows if f["proto"] == proto and f["src"]["ip"] == sip
            and f["dst"]["ip"] == dip and f["dst"]["port"] == PORT]


def _poll(fn, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (got := fn()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return got


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_exchange_seen_with_names_and_counters(world, proto):
    host, sip, cip = world
    _exchange(host, proto, sip)
    got = _poll(lambda: [f for f in _find(_flows(host), proto, cip, sip)
                         if f["packets_out"] and f["packets_in"]],
                f"no {proto} flow {cip} -> {sip}:{PORT}: {_flows(host)}")
    f = got[-1]
    assert f["src"]["container"] == "fcli" and f["dst"]["container"] == "fsrv", f
    assert f["src"]["network"] == NET == f["dst"]["network"], f
    assert f["verdict"] == "accepted" and f["start"] > 0, f
    assert f["bytes_out"] > 0 and f["bytes_in"] > 0, f
    # the filters: by container at either end, by network; a stranger sees none
    assert _find(_flows(host, "container=fsrv"), proto, cip, sip)
    assert _find(_flows(host, f"network={NET}"), proto, cip, sip)
    assert not _find(_flows(host, "container=nobody"), proto, cip, sip)


def test_cli_json_and_follow(world):
    host, sip, cip = world
    p = subprocess.Popen([BOXNET, "-H", host.host_uri, "flows", "--follow", "--format", "json",
                          "--container", "fcli"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0)   # the stream is read below with a deadline, not timed
        deadline = time.monotonic() + 30
        seen = None
        while seen is None and time.monotonic() < deadline:
            _exchange(host, "udp", sip)
            line = p.stdout.readline()
            if not line:
                break
            f = json.loads(line)
            if f["proto"] == "udp" and f["dst"]["ip"] == sip and f["state"] == "open" \
                    and f["src"]["container"] == "fcli":
                seen = f
        assert seen is not None, "no flow from --follow"
    finally:
        p.kill()
        p.wait()
    r = host.cli("flows", "--format", "json", "--network", NET)
    assert any(json.loads(x)["dst"]["container"] == "fsrv" for x in r.stdout.splitlines())
    r = host.cli("flows", "--container", "fcli")
    print(r.stdout)
    assert r.stdout.splitlines()[0].split()[:3] == ["PROTO", "SOURCE", "DESTINATION"], r.stdout
    assert "fcli" in r.stdout and "fsrv" in r.stdout


def test_bad_query_refused(world):
    host, _, _ = world
    status, body = host.api("GET", "/boxnet/v1/flows?follow=maybe")
    assert status == 400 and "follow" in str(body)
    status, body = host.api("GET", "/boxnet/v1/flows?colour=red")
    assert status == 400 and "colour" in str(body)


def _attempt(host, proto: str, ip: str) -> None:
    r = host.exec("fcli", "python3", "-c", CLIENT, proto, ip, str(PORT), timeout=30)
    assert r.returncode != 0 or "FAIL" in r.stdout, f"{ip} answered: {r.stdout}"


def test_dropped_by_isolation_and_by_policy(world):
    """A connection to a container on another network is dropped by
    isolation; one to a container whose policy admits only fsrv is dropped
    by policy: each seen as a flow with that verdict, from its rule's log."""
    host, _, cip = world
    host.cli("network", "create", "--subnet", "10.94.0.0/24", "flowiso")
    host.cli("run", "-d", "--name", "fiso", "--network", "flowiso", "boxnet/host",
             *server_cmd(PORT))
    pol = json.dumps({"ingress": [{"container": "fsrv", "ports": [f"{PORT}/tcp"]}]})
    host.cli("run", "-d", "--name", "fpol", "--network", NET, "--label",
             f"com.boxnet.policy={pol}", "boxnet/host", *server_cmd(PORT))
    wait_ready(host, "fiso", PORT)
    wait_ready(host, "fpol", PORT)
    for name, verdict in (("fiso", "dropped by isolation"), ("fpol", "dropped by policy")):
        ip = host.ip_of(name, "flowiso" if name == "fiso" else NET)
        _attempt(host, "tcp", ip)
        got = _poll(lambda: [f for f in _find(_flows(host), "tcp", cip, ip)
                             if f["state"] == "dropped"],
                    f"no dropped flow to {name}: {_flows(host)}")
        f = got[-1]
        assert f["verdict"] == verdict, f
        assert f["src"]["container"] == "fcli" and f["dst"]["container"] == name, f
        assert not [x for x in _find(_flows(host), "tcp", cip, ip) if x["state"] != "dropped"]


def test_dropped_by_direct_routing_protection(world, outside):
    """A neighbour routing straight to a container's address (no published
    port) is dropped by the direct-routing protection: a flow with that
    verdict, its source the outside (no container), its destination fsrv."""
    from integration.netprobe import probe
    host, sip, _ = world
    out = outside(host)
    out.sh(f"ip route add {SUBNET} via {out.host_ip}")
    assert probe(out.netns, "tcp", sip, PORT, timeout=3) is None   # no answer
    got = _poll(lambda: [f for f in _find(_flows(host), "tcp", out.ip, sip)
                         if f["state"] == "dropped"],
                f"no dropped flow from {out.ip}: {_flows(host)}")
    f = got[-1]
    assert f["verdict"] == "dropped by direct-routing protection", f
    assert f["src"].get("container", "") == "" and f["dst"]["container"] == "fsrv", f


def test_dropped_by_icc_off(world):
    """Two containers of an ICC-off network: the client's attempt never gets
    past ARP (the bridge table drops it), and is seen as a flow "dropped by
    ICC off" from the client to the server, both named; the same client
    still reaches a server on an ICC-on network (the drop is ICC's)."""
    host, sip, cip = world
    host.cli("network", "create", "--subnet", "10.93.0.0/24", "-o",
             "com.docker.network.bridge.enable_icc=false", "flowicc")
    host.cli("run", "-d", "--name", "ficcs", "--network", "flowicc", "boxnet/host",
             *server_cmd(PORT))
    host.cli("run", "-d", "--name", "ficcc", "--network", "flowicc", "boxnet/host",
             "sleep", "600")
    wait_ready(host, "ficcs", PORT)
    ip, src = host.ip_of("ficcs", "flowicc"), host.ip_of("ficcc", "flowicc")
    r = host.exec("ficcc", "python3", "-c", CLIENT, "tcp", ip, str(PORT), timeout=30)
    assert r.returncode != 0 or "FAIL" in r.stdout, f"{ip} answered with ICC off: {r.stdout}"
    got = _poll(lambda: [f for f in _flows(host) if f["state"] == "dropped"
                         and f["src"]["ip"] == src and f["dst"]["ip"] == ip],
                f"no dropped flow {src} -> {ip}: {_flows(host)}")
    f = got[-1]
    assert f["verdict"] == "dropped by ICC off" and f["proto"] == "arp", f
    assert f["src"]["container"] == "ficcc" and f["dst"]["container"] == "ficcs", f
    assert f["src"]["network"] == "flowicc" == f["dst"]["network"], f
    # the flood of the ARP to other ports is no attempt on them: no flow to the gateway
    gw = ip.rsplit(".", 1)[0] + ".1"
    assert not [x for x in _flows(host) if x["dst"]["ip"] == gw and x["state"] == "dropped"]
    r = host.cli("flows", "--container", "ficcc")
    assert "dropped-by-ICC-off" in r.stdout, r.stdout


def test_dropped_by_icc_off_ipv6(world):
    """The same over IPv6: the attempt stops at the neighbour solicitation for
    the server's address, seen as a flow "dropped by ICC off" (proto "ndp")
    from the client's address to the server's."""
    host, _, _ = world
    host.cli("network", "create", "--ipv6", "--subnet", "10.91.0.0/24", "--subnet",
             "fd00:95:1::/64", "-o", "com.docker.network.bridge.enable_icc=false", "flowicc6")
    host.cli("run", "-d", "--name", "ficc6s", "--network", "flowicc6", "boxnet/host",
             *server_cmd(PORT))
    host.cli("run", "-d", "--name", "ficc6c", "--network", "flowicc6", "boxnet/host",
             "sleep", "600")
    wait_ready(host, "ficc6s", PORT)
    ip, src = host.ip_of("ficc6s", "flowicc6", v6=True), host.ip_of("ficc6c", "flowicc6", v6=True)
    r = host.exec("ficc6c", "python3", "-c", CLIENT, "tcp", ip, str(PORT), timeout=30)
    assert r.returncode != 0 or "FAIL" in r.stdout, f"{ip} answered with ICC off: {r.stdout}"
    got = _poll(lambda: [f for f in _flows(host) if f["state"] == "dropped"
                         and f["dst"]["ip"] == ip],
                f"no dropped flow to {ip}: {_flows(host)}")
    f = got[-1]
    assert f["verdict"] == "dropped by ICC off" and f["proto"] == "ndp", f
    assert f["src"]["ip"] == src and f["src"]["container"] == "ficc6c", f
    assert f["dst"]["container"] == "ficc6s", f


def test_flows_off(make_host):
    """boxnetd --flows=off: no log rule in the ruleset, no conntrack
    accounting turned on, and both the API and `boxnet flows` answer an
    error naming the flag; containers still talk."""
    h = make_host("--flows=off")
    rules = h.sh("nft list ruleset").stdout
    assert "table inet boxnet" in rules and " log " not in rules and "group 2001" not in rules
    assert h.sh("sysctl -n net.netfilter.nf_conntrack_acct").stdout.strip() == "0"
    status, body = h.api("GET", "/boxnet/v1/flows")
    assert status == 503 and "--flows=off" in str(body), (status, body)
    status, body = h.api("GET", "/boxnet/v1/flows/status")
    assert status == 503 and "--flows=off" in str(body), (status, body)
    r = h.cli("flows", check=False)
    assert r.returncode != 0 and "--flows=off" in r.stderr, r.stdout + r.stderr
    h.cli("network", "create", "--subnet", "10.92.0.0/24", "offnet")
    h.cli("run", "-d", "--name", "osrv", "--network", "offnet", "boxnet/host",
          *server_cmd(PORT))
    h.cli("run", "-d", "--name", "ocli", "--network", "offnet", "boxnet/host", "sleep", "600")
    wait_ready(h, "osrv", PORT)
    r = h.exec("ocli", "python3", "-c", CLIENT, "tcp", h.ip_of("osrv", "offnet"), str(PORT),
               timeout=30)
    assert r.returncode == 0 and "FAIL" not in r.stdout, r.stdout + r.stderr


def test_lost_count_reported(world):
    """The flows API reports the records lost before they were read (none
    here) in a header and in /boxnet/v1/flows/status."""
    host, _, _ = world
    status, body = host.api("GET", "/boxnet/v1/flows/status")
    assert status == 200 and body["Enabled"] is True, body
    assert set(body["Lost"]) == {"conntrack", "drops"}
    assert all(isinstance(v, int) and v >= 0 for v in body["Lost"].values()), body
