"""The reachability matrix: every ordered pair of (container, host, outside)
probed with TCP and ICMP, over IPv4 and IPv6, against the expected matrix.

Networks: `mnorm` (normal), `mint` (--internal), `micc` (ICC off), `mds`
(dual-stack), `mrt` (IPv4 gateway mode routed), `mnu` (nat-unprotected).
Containers: two on each of the first four, `mm` on mnorm + mds, `mz` with
--network none, `pp` on mnorm publishing the probed port (its container side
must stay closed to the outside), `r1` on mrt and `u1` on mnu publishing it
too, and the host itself (what a --network host container sees).
The outside world routes to every container subnet, so a refused probe is the
firewall's doing, not a missing route.  Any unexpected reach, or missing
reach, fails the test; the outside's server also checks masquerade (it sees
the host's address, not the container's).
"""

from __future__ import annotations

import concurrent.futures as cf
import sys

import pytest

from integration.netprobe import SERVER, netns_of, ping, probe, server_cmd, wait_ready
from integration.outside import Outside

pytestmark = pytest.mark.kernel
P = 7000
NETS = {"mnorm": ["--subnet", "10.91.0.0/24"],
        "mint": ["--internal", "--subnet", "10.92.0.0/24"],
        "micc": ["-o", "com.docker.network.bridge.enable_icc=false", "--subnet", "10.93.0.0/24"],
        "mds": ["--ipv6", "--subnet", "10.94.0.0/24", "--subnet", "fd00:94::/64"],
        "mrt": ["-o", "com.docker.network.bridge.gateway_mode_ipv4=routed",
                "--subnet", "10.95.0.0/24"],
        "mnu": ["-o", "com.docker.network.bridge.gateway_mode_ipv4=nat-unprotected",
                "--subnet", "10.89.0.0/24"]}
CONTAINERS = {"n1": ["mnorm"], "n2": ["mnorm"], "i1": ["mint"], "i2": ["mint"],
              "k1": ["micc"], "k2": ["micc"], "d1": ["mds"], "d2": ["mds"],
              "mm": ["mnorm", "mds"], "mz": ["none"], "pp": ["mnorm"], "r1": ["mrt"],
              "u1": ["mnu"]}
PUBLISH = {"pp": ["-p", "8185:7000"], "r1": ["-p", "8186:7000"], "u1": ["-p", "8187:7000"]}
HOST4, HOST6, OUT4, OUT6 = "198.18.0.1", "fd00:198::1", "198.18.0.2", "fd00:198::2"


@pytest.fixture(scope="module")
def world(host):
    """Build the networks, containers and the outside (servers everywhere)."""
    out = Outside(host)
    host.sh(f"ip addr add {HOST6}/64 dev bxo0 nodad")
    out.sh(f"ip addr add {OUT6}/64 dev eth0 nodad && ip -6 route add default via {HOST6}")
    out.sh(f"ip route add 10.88.0.0/13 via {HOST4} && ip -6 route add fd00:94::/64 via {HOST6}")
    for name, args in NETS.items():
        host.cli("network", "create", *args, name)
    for name, nets in CONTAINERS.items():
        host.cli("run", "-d", "--name", name, "--network", nets[0], *PUBLISH.get(name, []),
                 "boxnet/host", *server_cmd(P))
        for extra in nets[1:]:
            host.cli("network", "connect", extra, name)
    out.popen([sys.executable, "-c", SERVER, str(P)])
    # a --network host container: its server is the host's
    host.cli("run", "-d", "--name", "hh", "--network", "host", "boxnet/host", *server_cmd(P))
    for name in CONTAINERS:
        wait_ready(host, name, P)
    return host, out


def entities(host, out):
    """name -> (netns, networks, [(address, network)])."""
    ents = {}
    for name, nets in CONTAINERS.items():
        addrs = []
        if nets != ["none"]:
            eps = host.inspect(name)["NetworkSettings"]["Networks"]
            for net in nets:
                addrs.append((eps[net]["IPAddress"], net))
                if eps[net]["GlobalIPv6Address"]:
                    addrs.append((eps[net]["GlobalIPv6Address"], net))
        ents[name] = (netns_of(host, name), nets, addrs)
    ents["host"] = (host.netns, ["host"], [(HOST4, "host"), (HOST6, "host")])
    ents["outside"] = (out.netns, ["outside"], [(OUT4, "outside"), (OUT6, "outside")])
    return ents


def expected(src: str, src_nets: list[str], tgt: str, tgt_net: str, v6: bool,
             kind: str = "tcp") -> bool:
    """The security model, as a user would state it (the probed port is
    published by pp, r1 and u1)."""
    has_v6 = src in ("host", "outside") or "mds" in src_nets
    if v6 and not has_v6:
        return False
    if src_nets == ["none"]:
        return False
    if src == "host":
        return True                     # the host reaches everything it routes to
    if src == "outside":
        # direct routing: only nat-unprotected (every port), routed (the published
        # port, and ICMP); never the container side of a nat network's port (pp)
        return tgt_net in ("host", "mnu", "mrt")
    # src is a container
    if tgt_net == "outside":
        return any(n != "mint" for n in src_nets)
    if tgt_net == "host":
        return any(n != "mint" for n in src_nets)
    if tgt_net in src_nets:
        return tgt_net != "micc"        # same network: ICC, unless it's off
    if tgt_net == "mrt" and kind == "tcp":
        return any(n != "mint" for n in src_nets)   # a routed network's published port
    return False                        # isolation between networks


def test_reachability_matrix(world):
    host, out = world
    ents = entities(host, out)
    jobs = []
    for src, (ns, src_nets, _) in ents.items():
        for tgt, (_, _, addrs) in ents.items():
            if tgt == src:
                continue
            for addr, net in addrs:
                v6 = ":" in addr
                jobs.append((src, tgt, addr, "tcp", expected(src, src_nets, tgt, net, v6), ns))
                jobs.append((src, tgt, addr, "icmp",
                             expected(src, src_nets, tgt, net, v6, "icmp"), ns))

    def run(job):
        src, tgt, addr, kind, want, ns = job
        if kind == "tcp":
            seen = probe(ns, "tcp", addr, P, timeout=6)
            return job, seen is not None, seen
        return job, ping(ns, addr, tries=2 if want else 1), None

    wrong, masq = [], []
    with cf.ThreadPoolExecutor(max_workers=24) as pool:
        for (src, tgt, addr, kind, want, _), got, seen in pool.map(run, jobs):
            if got != want:
                wrong.append(f"{src:>7} -> {tgt:<7} {addr:<16} {kind:<4} "
                             f"expected {'reach' if want else 'blocked'}, got "
                             f"{'reach' if got else 'blocked'}")
            if kind == "tcp" and got and tgt == "outside" and src in CONTAINERS:
                if src == "r1":   # routed: leaves with its own address
                    if seen != host.ip_of("r1", "mrt"):
                        masq.append(f"r1 -> outside seen as {seen} (routed: expected its own)")
                elif seen not in (HOST4, HOST6):
                    masq.append(f"{src} -> outside seen as {seen} (not masqueraded)")
    reach = sum(1 for j in jobs if j[4])
    assert len(jobs) > 300 and 60 < reach < len(jobs) - 60, (reach, len(jobs))
    assert not wrong, f"{len(wrong)} of {len(jobs)} probes wrong:\n" + "\n".join(sorted(wrong))
    assert not masq, "\n".join(masq)


def test_published_ports_only_through_the_host_address(world):
    host, out = world
    assert probe(out.netns, "tcp", HOST4, 8185) == OUT4         # nat: the host port
    assert probe(out.netns, "tcp", host.ip_of("pp", "mnorm"), P) is None
    assert probe(out.netns, "tcp", HOST4, 8187) == OUT4         # nat-unprotected: both
    assert probe(out.netns, "tcp", host.ip_of("u1", "mnu"), P) == OUT4
    assert probe(out.netns, "tcp", HOST4, 8186) is None         # routed: no host port
    assert probe(out.netns, "tcp", host.ip_of("r1", "mrt"), P) == OUT4


def test_internal_network_accepts_no_published_port(world):
    host, out = world
    host.cli("run", "-d", "--name", "ipub", "--network", "mint", "-p", "8181:7000",
             "boxnet/host", *server_cmd(P))
    try:
        wait_ready(host, "ipub", P)
        assert probe(out.netns, "tcp", HOST4, 8181) is None
        assert probe(host.netns, "tcp", "127.0.0.1", 8181) is None
        assert probe(netns_of(host, "i1"), "tcp", host.ip_of("ipub", "mint"), P) is not None
    finally:
        host.cli("rm", "-f", "ipub")


def test_icc_off_still_serves_published_ports(world):
    host, out = world
    host.cli("run", "-d", "--name", "kpub", "--network", "micc", "-p", "8182:7000",
             "boxnet/host", *server_cmd(P))
    try:
        wait_ready(host, "kpub", P)
        assert probe(out.netns, "tcp", HOST4, 8182) == OUT4
        # a peer on the same ICC-off network: not directly, but through the port
        assert probe(netns_of(host, "k1"), "tcp", host.ip_of("kpub", "micc"), P) is None
        assert probe(netns_of(host, "k1"), "tcp", HOST4, 8182) is not None
    finally:
        host.cli("rm", "-f", "kpub")
