"""Protections: anti-spoofing per bridge port, the admin chain (works, and
survives `boxnet system firewall-reload`), tables flushed behind boxnet's
back are restored, and a foreign forward drop policy is reported by info."""

from __future__ import annotations

import time

import pytest

from integration.netprobe import netns_of, probe, server_cmd, wait_ready
from integration.outside import Outside

pytestmark = pytest.mark.kernel
P = 7000


@pytest.fixture(scope="module")
def world(host):
    """Outside; net f1 with server web (published 8080) and client cl."""
    out = Outside(host)
    host.cli("network", "create", "--subnet", "10.88.0.0/24", "f1")
    host.cli("run", "-d", "--name", "web", "--network", "f1", "-p", "8080:7000",
             "boxnet/host", *server_cmd(P))
    host.cli("run", "-d", "--name", "cl", "--network", "f1", "boxnet/host", *server_cmd(P))
    wait_ready(host, "web", P)
    wait_ready(host, "cl", P)
    return host, out


def _nsh(ns: str, cmd: str):
    from integration.harness import run
    return run(["nsenter", f"--net={ns}", "sh", "-c", cmd], check=False)


def test_spoofed_source_ip_is_dropped(world):
    host, out = world
    ns = netns_of(host, "cl")
    web = host.ip_of("web", "f1")
    assert probe(ns, "tcp", web, P) == host.ip_of("cl", "f1")      # control
    _nsh(ns, "ip addr add 10.88.0.200/32 dev eth0")
    try:
        assert probe(ns, "tcp", web, P, src="10.88.0.200") is None
        assert probe(ns, "tcp", out.host_ip, 8080, src="10.88.0.200") is None
    finally:
        _nsh(ns, "ip addr del 10.88.0.200/32 dev eth0")
    assert probe(ns, "tcp", web, P) is not None


def test_spoofed_source_mac_is_dropped(world):
    host, out = world
    ns = netns_of(host, "cl")
    web = host.ip_of("web", "f1")
    mac = host.inspect("cl")["NetworkSettings"]["Networks"]["f1"]["MacAddress"]
    _nsh(ns, "ip link set eth0 address 02:42:de:ad:be:ef")
    try:
        _nsh(ns, "ip neigh flush dev eth0")
        assert probe(ns, "tcp", web, P) is None
    finally:
        _nsh(ns, f"ip link set eth0 address {mac}; ip neigh flush dev eth0")
    assert probe(ns, "tcp", web, P) is not None


def test_admin_chain_rule_applies_and_survives_reload(world):
    host, out = world
    assert probe(out.netns, "tcp", out.host_ip, 8080) == out.ip
    host.sh(f"nft add rule inet boxnet admin ip saddr {out.ip} tcp dport {P} drop")
    try:
        assert probe(out.netns, "tcp", out.host_ip, 8080) is None
        r = host.cli("system", "firewall-reload")
        assert "reloaded" in r.stdout
        assert f"ip saddr {out.ip} tcp dport {P} drop" in host.sh(
            "nft list chain inet boxnet admin").stdout
        assert probe(out.netns, "tcp", out.host_ip, 8080) is None
    finally:
        host.sh("nft flush chain inet boxnet admin")
    assert probe(out.netns, "tcp", out.host_ip, 8080) == out.ip


def _until(fn, secs: float = 15) -> bool:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.3)
    return False


def test_flushed_tables_are_restored_with_the_admin_rules(world):
    host, out = world
    host.sh("nft add rule inet boxnet admin ip saddr 198.18.0.99 drop")
    time.sleep(2.5)  # one check period: the admin rules are remembered
    host.sh("nft flush ruleset")
    assert "boxnet" not in host.sh("nft list tables").stdout
    assert _until(lambda: probe(out.netns, "tcp", out.host_ip, 8080) == out.ip)
    assert "ip saddr 198.18.0.99 drop" in host.sh("nft list chain inet boxnet admin").stdout
    host.sh("nft flush table inet boxnet")      # rules gone, sets and chains kept
    assert _until(lambda: "jump admin" in host.sh("nft list chain inet boxnet forward").stdout)
    assert _until(lambda: probe(out.netns, "tcp", out.host_ip, 8080) == out.ip)
    assert "restoring" in host.log_tail(400)
    host.sh("nft flush chain inet boxnet admin")


def test_info_warns_about_a_foreign_forward_drop_policy(world):
    host, out = world
    host.sh("nft add table ip bxtfilter && nft add chain ip bxtfilter FORWARD "
            "'{ type filter hook forward priority 0; policy drop; }'")
    try:
        warnings = host.api_ok("GET", "/info")["Warnings"] or []
        assert any("bxtfilter FORWARD" in w and "policy drop" in w for w in warnings), warnings
        # the periodic check (every 2 s) puts it in the daemon log too, once
        assert _until(lambda: "bxtfilter FORWARD" in host.log_tail(400))
        # and it really is what breaks outbound traffic / published ports
        assert probe(out.netns, "tcp", out.host_ip, 8080) is None
    finally:
        host.sh("nft delete table ip bxtfilter")
    assert not any("bxtfilter" in w for w in host.api_ok("GET", "/info")["Warnings"] or [])
