"""Embedded DNS seen from inside real containers (issue 4, Must show 1).

One daemon for the module, started with upstreams in an Outside netns:
a silent (dead) server first, then a stub that answers (dns_stub.py). Clients:
busybox nslookup in the container, and dnspython (dns_query.py) run in the
container's netns with nsenter. No query ever leaves the test namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time
from pathlib import Path

import pytest

from integration import harness
from integration.outside import Outside

pytestmark = pytest.mark.kernel

HERE = Path(__file__).parent
GOOD, DEAD = "198.18.0.2", "198.18.0.9"
TIMEOUT = 2.0
SLEEP = ["busybox", "sleep", "3600"]
FW = os.environ.get("BOXNET_TEST_FIREWALL", "nftables")


@pytest.fixture(scope="module")
def dns_host():
    """Daemon (--dns DEAD --dns GOOD), stubs, networks n1, n2, n6 (dual stack) and containers."""
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    h = harness.TestHost()
    try:
        o = Outside(h)
        # A second outside address for the dead upstream (on-link from the host).
        h.sh(["ip", "route", "add", f"{DEAD}/32", "dev", o.host_ifname])
        o.sh(["ip", "addr", "add", f"{DEAD}/32", "dev", "eth0"])
        h.good_log, h.dead_log = h.dir / "good.log", h.dir / "dead.log"
        o.popen([sys.executable, str(HERE / "dns_stub.py"), "--log", str(h.good_log),
                 "--addr", GOOD])
        o.popen([sys.executable, "-c", _SILENT.format(ip=DEAD, log=h.dead_log)])
        h.start("--dns", DEAD, "--dns", GOOD, "--dns-timeout", str(TIMEOUT),
                "--firewall", FW)
        h.cli("network", "create", "n1")
        h.cli("network", "create", "n2")
        h.cli("network", "create", "--ipv6", "--subnet", "10.243.0.0/24",
              "--subnet", "fd00:dd::/64", "n6")
        h.cli("run", "-d", "--name", "c1", "--hostname", "c1host", "--network", "n1",
              "--network-alias", "web", "--network-alias", "pool", *SLEEP)
        h.cli("run", "-d", "--name", "c2", "--network", "n1", "--network-alias", "pool", *SLEEP)
        h.cli("run", "-d", "--name", "b1", "--network", "n2", "--dns-search", "example.test",
              "--dns-option", "attempts:2", *SLEEP)
        h.cli("run", "-d", "--name", "v6a", "--network", "n6", *SLEEP)
        h.cli("run", "-d", "--name", "v6b", "--network", "n6", *SLEEP)
        _wait_file(h.good_log)
        _wait_file(h.dead_log)
        yield h
    finally:
        problems = h.teardown()
        assert not problems, problems


# A dead upstream: binds, logs what it gets, never answers.
_SILENT = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("{ip}", 53))
log = open("{log}", "a", buffering=1); log.write("ready\\n")
while True:
    d, a = s.recvfrom(4096); log.write("udp " + d.hex() + "\\n")
"""


def _wait_file(path: Path, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and "ready" in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never became ready")


def nslookup(h, container: str, name: str, server: str = "") -> tuple[int, list[str]]:
    """busybox nslookup in the container; (exit code, addresses after 'Name:')."""
    r = h.exec(container, "nslookup", name, *([server] if server else []), timeout=20)
    addrs, seen = [], False
    for line in r.stdout.splitlines():
        if line.startswith("Name:"):
            seen = True
        elif seen and line.startswith("Address"):
            addrs.append(line.split()[-1])
    return r.returncode, addrs


def dq(h, container: str, *args: str) -> dict | list:
    """dns_query.py run in the container's netns (nsenter --net=SandboxKey)."""
    key = h.inspect(container)["NetworkSettings"]["SandboxKey"]
    r = harness.run(["nsenter", f"--net={key}", sys.executable, str(HERE / "dns_query.py"),
                     *args], timeout=60)
    return json.loads(r.stdout)


def test_names_on_shared_network_busybox(dns_host):
    """Name, alias, NAME.NETWORK, short id and hostname resolve with busybox nslookup."""
    h = dns_host
    ip = h.ip_of("c1", "n1")
    short = h.inspect("c1")["Id"][:12]
    for name in ("c1", "web", "c1.n1", short, "c1host", "C1.N1"):
        code, addrs = nslookup(h, "c2", name)
        assert code == 0 and ip in addrs, (name, addrs)


def test_names_dnspython_and_resolv_conf(dns_host):
    """The same from dnspython; TTL is the short default; resolv.conf is Docker's form."""
    h = dns_host
    ip = h.ip_of("c1", "n1")
    for name in ("c1", "web", "c1.n1"):
        r = dq(h, "c2", "query", name, "A")
        assert r["rcode"] == "NOERROR" and r["answers"] == [ip], (name, r)
        assert r["ttls"] == [5], r   # the documented default (--dns-ttl), not Docker's 600
    r = dq(h, "c2", "query", "c1", "A", "--tcp")
    assert r["answers"] == [ip]
    conf = h.exec("b1", "cat", "/etc/resolv.conf", check=True).stdout
    assert "nameserver 127.0.0.11\n" in conf and "search example.test" in conf
    assert "attempts:2" in conf
    assert "nameserver 127.0.0.11" in h.exec("c1", "cat", "/etc/resolv.conf").stdout
    assert "ndots:0" in h.exec("c1", "cat", "/etc/resolv.conf").stdout


def test_aaaa_and_ptr(dns_host):
    """AAAA for an IPv6 endpoint; PTR of v4 and v6 container addresses gives NAME.NETWORK."""
    h = dns_host
    v6 = h.ip_of("v6a", "n6", v6=True)
    r = dq(h, "v6b", "query", "v6a", "AAAA")
    assert r["answers"] == [str(ipaddress.ip_address(v6))], r
    assert dq(h, "v6b", "query", "v6a", "A")["answers"] == [h.ip_of("v6a", "n6")]
    for addr in (h.ip_of("v6a", "n6"), v6):
        rev = ipaddress.ip_address(addr).reverse_pointer
        r = dq(h, "v6b", "query", rev, "PTR")
        assert r["answers"] == ["v6a.n6."], (addr, r)
    code, addrs = nslookup(h, "v6b", "v6a")
    assert code == 0 and str(ipaddress.ip_address(v6)) in addrs
    # An IPv4-only name has no AAAA: NOERROR, empty (not forwarded).
    r = dq(h, "c2", "query", "c1", "AAAA")
    assert r["rcode"] == "NOERROR" and r["answers"] == []


def test_names_of_other_networks_do_not_resolve(dns_host):
    """From n2, n1's names do not resolve (any client); n2's own name does."""
    h = dns_host
    for name in ("c1", "web", "c1.n1"):
        r = dq(h, "b1", "query", name, "A")
        assert r["rcode"] == "NXDOMAIN" and not r["answers"], (name, r)
        code, addrs = nslookup(h, "b1", name)
        assert code != 0 and h.ip_of("c1", "n1") not in addrs
    rev = ipaddress.ip_address(h.ip_of("c1", "n1")).reverse_pointer
    assert dq(h, "b1", "query", rev, "PTR")["answers"] == []
    assert dq(h, "b1", "query", "b1", "A")["answers"] == [h.ip_of("b1", "n2")]


def test_round_robin_over_shared_alias(dns_host):
    """Two containers share alias 'pool': both addresses come back, in rotating order."""
    h = dns_host
    both = {h.ip_of("c1", "n1"), h.ip_of("c2", "n1")}
    r = dq(h, "c2", "query", "pool", "A")
    assert set(r["answers"]) == both and len(r["answers"]) == 2
    firsts = dq(h, "c1", "rr", "pool", "6")
    assert set(firsts) == both, firsts


def test_connect_disconnect_visible_at_once(dns_host):
    """A name appears on connect and disappears on disconnect with no delay."""
    h = dns_host
    assert dq(h, "c2", "query", "b1", "A")["rcode"] == "NXDOMAIN"
    h.cli("network", "connect", "n1", "b1")
    ip = h.ip_of("b1", "n1")
    assert dq(h, "c2", "query", "b1", "A")["answers"] == [ip]
    assert dq(h, "b1", "query", "c1", "A")["answers"] == [h.ip_of("c1", "n1")]
    h.cli("network", "disconnect", "n1", "b1")
    assert dq(h, "c2", "query", "b1", "A")["rcode"] == "NXDOMAIN"
    assert dq(h, "b1", "query", "c1", "A")["rcode"] == "NXDOMAIN"


def test_stop_start_remove(dns_host):
    """A stopped container's name goes, comes back (same IP) on start, goes on remove."""
    h = dns_host
    h.cli("run", "-d", "--name", "tmp1", "--network", "n1", *SLEEP)
    ip = h.ip_of("tmp1", "n1")
    assert dq(h, "c2", "query", "tmp1", "A")["answers"] == [ip]
    h.cli("stop", "-t", "0", "tmp1")
    assert dq(h, "c2", "query", "tmp1", "A")["rcode"] == "NXDOMAIN"
    h.cli("start", "tmp1")
    assert h.ip_of("tmp1", "n1") == ip          # same endpoint config: same address
    assert dq(h, "c2", "query", "tmp1", "A")["answers"] == [ip]
    h.cli("rm", "-f", "tmp1")
    assert dq(h, "c2", "query", "tmp1", "A")["rcode"] == "NXDOMAIN"


def test_forward_udp_with_dead_first_upstream(dns_host):
    """Outside names go to the upstreams; the dead first one does not cost the timeout."""
    h = dns_host
    r = dq(h, "c2", "query", "www.outside.test", "A")
    assert r["answers"] == ["203.0.113.7"] and r["ms"] < TIMEOUT * 1000, r
    assert "udp www.outside.test. 1" in h.good_log.read_text()
    assert h.dead_log.read_text().count("udp ") >= 1    # it was tried first
    code, addrs = nslookup(h, "c1", "www2.outside.test")
    assert code == 0 and "203.0.113.7" in addrs
    # Cached: a second query is answered without asking upstream again.
    n = h.good_log.read_text().count("www.outside.test. 1")
    assert dq(h, "c1", "query", "www.outside.test", "A")["answers"] == ["203.0.113.7"]
    assert h.good_log.read_text().count("www.outside.test. 1") == n
    # Negative answers come through (and EDNS queries are passed on).
    r = dq(h, "c2", "query", "nothing.invalid", "A", "--edns")
    assert r["rcode"] == "NXDOMAIN"


def test_forward_truncated_answer_over_tcp(dns_host):
    """A truncated upstream UDP answer is fetched over TCP; the client gets it all over TCP."""
    h = dns_host
    r = dq(h, "c2", "query", "big.outside.test", "A")
    assert r["tc"] and not r["answers"], r    # too big for a 512-byte UDP answer
    assert "tcp big.outside.test. 1" in h.good_log.read_text()
    r = dq(h, "c2", "query", "big.outside.test", "A", "--tcp")
    assert len(r["answers"]) == 40 and not r["tc"], r
    r = dq(h, "c2", "query", "big.outside.test", "A", "--edns")   # EDNS 1232: fits
    assert len(r["answers"]) == 40, r


def test_per_container_dns(dns_host):
    """--dns on a container replaces the daemon's upstreams for it."""
    h = dns_host
    h.cli("run", "-d", "--name", "own", "--network", "n2", "--dns", GOOD, *SLEEP)
    try:
        conf = h.exec("own", "cat", "/etc/resolv.conf", check=True).stdout
        assert "nameserver 127.0.0.11" in conf and f"upstream: {GOOD}" in conf
        before = h.dead_log.read_text().count("udp ")
        r = dq(h, "own", "query", "mine.outside.test", "A")
        assert r["answers"] == ["203.0.113.7"] and r["ms"] < 500, r
        assert h.dead_log.read_text().count("udp ") == before
    finally:
        h.cli("rm", "-f", "own")


def test_rename_visible_at_once(dns_host):
    """After a rename the new name answers at once and the old one no longer does."""
    h = dns_host
    h.cli("run", "-d", "--name", "before", "--network", "n1", *SLEEP)
    try:
        ip = h.ip_of("before", "n1")
        assert dq(h, "c2", "query", "before", "A")["answers"] == [ip]
        h.cli("rename", "before", "after")
        assert dq(h, "c2", "query", "after", "A")["answers"] == [ip]
        assert dq(h, "c2", "query", "before", "A")["rcode"] == "NXDOMAIN"
        r = h.cli("rename", "after", "c1", check=False)
        assert r.returncode != 0 and "already in use" in r.stderr
    finally:
        h.cli("rm", "-f", "after")


def test_legacy_links_on_default_bridge(dns_host):
    """--link name:alias on the default bridge: the alias and name reach the target
    through /etc/hosts (no embedded DNS there, as in Docker)."""
    h = dns_host
    h.cli("run", "-d", "--name", "linked", *SLEEP)
    try:
        h.cli("run", "-d", "--name", "linker", "--link", "linked:dbalias", *SLEEP)
        ip = h.ip_of("linked", "bridge")
        hosts = h.exec("linker", "cat", "/etc/hosts", check=True).stdout
        assert any(line.startswith(ip + "\t") and "dbalias" in line and "linked" in line
                   for line in hosts.splitlines()), hosts
        assert h.exec("linker", "ping", "-c1", "-W2", "dbalias").returncode == 0
        # a link to a container that does not run is refused at start, as by Docker
        r = h.cli("run", "-d", "--name", "badlink", "--link", "nosuch:x", *SLEEP, check=False)
        assert r.returncode != 0 and "nosuch" in r.stderr
    finally:
        h.cli("rm", "-f", "linker", "linked", "badlink", check=False)


def test_legacy_links_on_user_network_resolve(dns_host):
    """--link target:alias on a user-defined network: the embedded DNS answers the
    alias for the linking container only (as Docker's does), and /etc/hosts has it."""
    h = dns_host
    h.cli("run", "-d", "--name", "ltarget", "--network", "n1", *SLEEP)
    try:
        h.cli("run", "-d", "--name", "lnk", "--network", "n1", "--link", "ltarget:dblink",
              *SLEEP)
        ip = h.ip_of("ltarget", "n1")
        assert dq(h, "lnk", "query", "dblink", "A")["answers"] == [ip]
        code, addrs = nslookup(h, "lnk", "dblink")
        assert code == 0 and ip in addrs
        assert h.exec("lnk", "ping", "-c1", "-W2", "dblink").returncode == 0
        # the alias is the linker's alone: c2 shares n1 but made no link
        assert dq(h, "c2", "query", "dblink", "A")["rcode"] == "NXDOMAIN"
        h.cli("stop", "-t", "0", "ltarget")                    # target gone: so is the alias
        assert dq(h, "lnk", "query", "dblink", "A")["rcode"] == "NXDOMAIN"
        h.cli("start", "ltarget")
        assert dq(h, "lnk", "query", "dblink", "A")["answers"] == [h.ip_of("ltarget", "n1")]
    finally:
        h.cli("rm", "-f", "lnk", "ltarget", check=False)


def test_default_bridge_and_hosts_file(dns_host):
    """Default bridge: no embedded DNS (Docker's way); /etc/hosts with --add-host and host-gateway."""
    h = dns_host
    gw = h.network("bridge")["IPAM"]["Config"][0]["Gateway"]
    h.cli("run", "-d", "--name", "legacy", "--add-host", "db:10.9.9.9",
          "--add-host", "gw.internal:host-gateway", *SLEEP)
    try:
        conf = h.exec("legacy", "cat", "/etc/resolv.conf", check=True).stdout
        assert "127.0.0.11" not in conf and f"nameserver {DEAD}" in conf
        hosts = h.exec("legacy", "cat", "/etc/hosts", check=True).stdout
        assert "10.9.9.9\tdb" in hosts and f"{gw}\tgw.internal" in hosts
        assert h.ip_of("legacy", "bridge") in hosts and "localhost" in hosts
    finally:
        h.cli("rm", "-f", "legacy")


def test_hostile_packets_and_flood(dns_host):
    """Malformed packets get FORMERR or nothing; a flood from one container does not
    starve another; the resolver keeps answering."""
    h = dns_host
    r = dq(h, "b1", "hostile")
    assert r["formerr"] >= 5, r
    ip = h.ip_of("c1", "n1")
    assert dq(h, "b1", "query", "b1", "A")["answers"] == [h.ip_of("b1", "n2")]
    key = h.inspect("b1")["NetworkSettings"]["SandboxKey"]
    flood = harness.subprocess.Popen(
        ["nsenter", f"--net={key}", sys.executable, str(HERE / "dns_query.py"), "flood", "4"],
        stdout=harness.subprocess.PIPE, text=True)
    harness.STARTED_PIDS.add(flood.pid)
    try:
        time.sleep(0.5)
        lat = dq(h, "c2", "latency", "c1", "100")
    finally:
        out = flood.communicate(timeout=30)[0]
    assert json.loads(out)["sent"] > 1000
    assert lat["lost"] == 0 and lat["p99_ms"] < 100, lat
    assert dq(h, "c2", "query", "c1", "A")["answers"] == [ip]
    assert h.running()


def test_resolvers_come_back_after_daemon_restart(dns_host):
    """Live restore: a restarted daemon reopens the resolvers of running containers."""
    h = dns_host
    h.restart()
    assert dq(h, "c2", "query", "c1", "A")["answers"] == [h.ip_of("c1", "n1")]
    code, addrs = nslookup(h, "c1", "web")
    assert code == 0 and h.ip_of("c1", "n1") in addrs
