"""Least-privilege policy beyond the db/app example, from inside containers: IPv6,
egress to the outside world by CIDR and port, a network peer, and a daemon restart
(the policy holds when boxnetd comes back and re-adopts the containers)."""

from __future__ import annotations

import json
import sys

import pytest

from integration.netprobe import SERVER, server_cmd, wait_ready
from integration.outside import Outside
from integration.test_policy import reach

pytestmark = pytest.mark.kernel
NET, NET2 = "polv6", "polside"
OUT4 = "198.18.0.2"


def _run(host, name, net, pol=None):
    extra = ["--label", "com.boxnet.policy=" + json.dumps(pol)] if pol is not None else []
    host.cli("run", "-d", "--name", name, "--network", net, *extra, "boxnet/host",
             *server_cmd(5432))


@pytest.fixture(scope="module")
def world(host):
    """Dual-stack network: s6 accepts only c6 (5432/tcp and udp, ICMP; both families); e1 may egress
    only to the outside's 198.18.0.0/30 on 5432 and to network polside; n1 on polside."""
    out = Outside(host)
    out.sh("ip route add 10.96.0.0/16 via 198.18.0.1")
    out.popen([sys.executable, "-c", SERVER, "5432"])
    host.cli("network", "create", "--ipv6", "--subnet", "10.96.0.0/24", "--subnet",
             "fd00:96::/64", NET)
    host.cli("network", "create", "--subnet", "10.96.1.0/24", NET2)
    _run(host, "s6", NET, {"ingress": [{"container": "c6",
                                        "ports": ["5432/tcp", "5432/udp", "icmp"]}]})
    _run(host, "c6", NET)
    _run(host, "x6", NET)
    _run(host, "e1", NET, {"egress": [{"cidr": "198.18.0.0/30", "ports": ["5432/tcp"]},
                                      {"network": NET2}]})
    _run(host, "n1", NET2)
    host.cli("network", "connect", NET2, "e1")
    for n in ("s6", "c6", "x6", "e1", "n1"):
        wait_ready(host, n, 5432)
    return host, out


def test_ipv6_ingress(world):
    host, _ = world
    s6 = host.ip_of("s6", NET, v6=True)
    assert reach(host, "c6", s6, 5432)
    assert not reach(host, "x6", s6, 5432)
    assert reach(host, "x6", host.ip_of("c6", NET, v6=True), 5432)   # c6 has no policy


def _ping(host, src: str, ip: str) -> bool:
    r = host.exec(src, "busybox", "ping", "-c1", "-W2", ip, timeout=30)
    return r.returncode == 0


def test_udp_and_icmp_rules(world):
    host, _ = world
    for ip in (host.ip_of("s6", NET), host.ip_of("s6", NET, v6=True)):
        assert reach(host, "c6", ip, 5432, "udp")
        assert not reach(host, "x6", ip, 5432, "udp")
        assert _ping(host, "c6", ip)
        assert not _ping(host, "x6", ip)


def test_egress_to_the_outside_by_cidr_and_port(world):
    host, out = world
    assert reach(host, "e1", OUT4, 5432)                 # masqueraded, allowed by the CIDR rule
    assert reach(host, "x6", OUT4, 5432)
    assert not reach(host, "e1", host.ip_of("x6", NET), 5432)   # not in its egress
    assert reach(host, "e1", host.ip_of("n1", NET2), 5432)      # the network rule


def test_policy_holds_across_a_daemon_restart(world):
    host, _ = world
    s6 = host.ip_of("s6", NET)
    host.restart()
    assert not reach(host, "x6", s6, 5432)
    assert reach(host, "c6", s6, 5432)
    assert s6 in host.sh("nft list map inet boxnet pvin4").stdout


def test_published_port_obeys_ingress(world):
    """A published port is ingress too: the outside reaches it only from the addresses
    a CIDR rule lets in (the DNATed packet is judged with the container as
    destination); pubno's rule grants its port to another prefix only."""
    from integration.netprobe import probe
    host, out = world
    host.cli("run", "-d", "--name", "pubok", "--network", NET, "-p", "18432:5432",
             "--label", "com.boxnet.policy=" + json.dumps(
                 {"ingress": [{"cidr": "198.18.0.0/30", "ports": ["5432/tcp"]}]}),
             "boxnet/host", *server_cmd(5432))
    host.cli("run", "-d", "--name", "pubno", "--network", NET, "-p", "18433:5432",
             "--label", "com.boxnet.policy=" + json.dumps(
                 {"ingress": [{"cidr": "203.0.113.0/24", "ports": ["5432/tcp"]}]}),
             "boxnet/host", *server_cmd(5432))
    wait_ready(host, "pubok", 5432)
    wait_ready(host, "pubno", 5432)
    assert probe(out.netns, "tcp", "198.18.0.1", 18432)
    assert probe(out.netns, "tcp", "198.18.0.1", 18433) is None
    host.cli("rm", "-f", "pubok", "pubno")


def test_bridge_netfilter_turned_back_on_for_policies(world):
    """Inside one bridge the policy is judged through br_netfilter: with it off, the
    next policy change turns it on again (as dockerd does for its bridges)."""
    host, _ = world
    host.sh("sysctl -qw net.bridge.bridge-nf-call-iptables=0")
    _run(host, "bnf", NET, {"ingress": []})
    assert host.sysctl("net.bridge.bridge-nf-call-iptables") == "1"
    assert not reach(host, "x6", host.ip_of("bnf", NET), 5432)
    host.cli("rm", "-f", "bnf")


def test_flushed_gate_is_repaired(world):
    """Someone flushes the ingress verdict map (every connection would pass): the firewall
    watch puts it back, and the policy holds again."""
    import time
    host, _ = world
    s6 = host.ip_of("s6", NET)
    host.sh("nft flush map inet boxnet pvin4")
    deadline = time.monotonic() + 60
    while s6 not in host.sh("nft list map inet boxnet pvin4").stdout:
        assert time.monotonic() < deadline, host.log_tail(40)
        time.sleep(0.5)
    assert not reach(host, "x6", s6, 5432)
