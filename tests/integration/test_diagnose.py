"""`boxnet network diagnose A B[:port][/proto]` (issue 20 section 4), each cause made true.

Every case builds the cause on purpose (a network not shared, the default
bridge's missing DNS, an internal network, ICC off, a port nobody listens on,
a foreign nftables table dropping forwarded traffic, a policy, an interface
MTU lowered on one side of a bridge network), then checks
the verdict, the cause, the one-line fix and the daemon's probe from A's netns;
where it matters a process inside the container confirms what the probe saw.
Exit status 0 exactly when A reaches B.  The daemon's probe waits 3 s for an
answer (--timeout) so that a loaded machine does not turn a reply into a drop.
"""

from __future__ import annotations

import json

import pytest

from integration.harness import run
from integration.netprobe import CLIENT, netns_of, server_cmd, wait_ready

pytestmark = pytest.mark.kernel
NET, NET2, INT, NOICC = "dgnet", "dgnet2", "dgint", "dgnoicc"
PORT = 5432


def diag(host, a: str, b: str, *extra: str):
    """(exit status, the JSON answer) of `boxnet network diagnose a b`."""
    r = host.cli("network", "diagnose", "--timeout", "3", "--format", "json", a, b, *extra,
                 check=False, timeout=60)
    assert r.stdout.strip(), r.stderr
    return r.returncode, json.loads(r.stdout)


def causes(ans) -> list[str]:
    """The cause keys of an answer."""
    return [c["Cause"] for c in ans["Causes"]]


def reach(host, src: str, ip: str, port: int, proto: str = "tcp") -> bool:
    """A connection from a process inside ``src``: True if the server answered."""
    r = host.exec(src, "python3", "-c", CLIENT, proto, ip, str(port), timeout=30)
    return r.returncode == 0 and bool(r.stdout.strip()) and "FAIL" not in r.stdout


def _run(host, name, *net):
    host.cli("run", "-d", "--name", name, *net, "boxnet/host", *server_cmd(PORT))


@pytest.fixture(scope="module")
def world(host):
    """xa, xb on dgnet; xc on dgnet2; xd, xe on the default bridge; xf, xg on an ICC-off
    network; xi alone on an internal one.  Each serves TCP and UDP on 5432."""
    host.cli("network", "create", "--subnet", "10.96.1.0/24", NET)
    host.cli("network", "create", "--subnet", "10.96.2.0/24", NET2)
    host.cli("network", "create", "--internal", "--subnet", "10.96.3.0/24", INT)
    host.cli("network", "create", "--subnet", "10.96.4.0/24", "-o",
             "com.docker.network.bridge.enable_icc=false", NOICC)
    for name, net in (("xa", NET), ("xb", NET), ("xc", NET2), ("xd", "bridge"), ("xe", "bridge"),
                      ("xf", NOICC), ("xg", NOICC), ("xi", INT)):
        _run(host, name, "--network", net)
    for name in ("xa", "xb", "xc", "xd", "xe", "xf", "xg", "xi"):
        wait_ready(host, name, PORT)
    return host


def test_reachable_exit_0_tcp_udp_icmp_by_name_and_ip(world):
    host = world
    rc, ans = diag(host, "xa", f"xb:{PORT}")
    assert rc == 0 and ans["Reachable"] and ans["Causes"] == [], ans
    assert ans["Probe"]["Reached"] and "TCP connect" in ans["Probe"]["Result"], ans
    assert ans["Address"] == host.ip_of("xb", NET)
    rc, ans = diag(host, "xa", f"xb:{PORT}/udp")
    assert rc == 0 and "UDP" in ans["Probe"]["Result"], ans
    rc, ans = diag(host, host.ip_of("xa", NET), host.ip_of("xb", NET))
    assert rc == 0 and ans["Proto"] == "icmp" and "ping" in ans["Probe"]["Result"], ans
    r = host.cli("network", "diagnose", "--timeout", "3", "xa", f"xb:{PORT}", check=False)
    assert r.returncode == 0 and r.stdout.startswith("xa reaches xb"), r.stdout + r.stderr


def test_port_not_listening(world):
    host = world
    rc, ans = diag(host, "xa", "xb:5433")
    assert rc == 1 and causes(ans) == ["not-listening"], ans
    assert "0.0.0.0:5433" in ans["Fix"]
    assert not ans["Probe"]["Reached"] and "refused" in ans["Probe"]["Result"], ans
    assert not reach(host, "xa", host.ip_of("xb", NET), 5433)


def test_no_shared_network_and_the_fix_works(world):
    host = world
    rc, ans = diag(host, "xa", f"xc:{PORT}")
    assert rc == 1 and causes(ans)[0] == "no-shared-network", ans
    assert "name-not-in-scope" in causes(ans)
    assert ans["Fix"] == f"boxnet network connect {NET2} xa", ans
    assert not ans["Probe"]["Reached"], ans
    assert not reach(host, "xa", host.ip_of("xc", NET2), PORT)
    host.cli("network", "connect", NET2, "xa")
    try:
        rc, ans = diag(host, "xa", f"xc:{PORT}")
        assert rc == 0 and ans["Causes"] == [], ans
    finally:
        host.cli("network", "disconnect", NET2, "xa")


def test_name_not_in_scope_on_the_default_bridge(world):
    """xd and xe share only the default bridge: xe's address answers, its name is not
    one xd can resolve (no embedded DNS there), so the verdict is no."""
    host = world
    rc, ans = diag(host, "xd", f"xe:{PORT}")
    assert rc == 1 and causes(ans) == ["name-not-in-scope"], ans
    assert ans["Probe"]["Reached"], ans          # by address it works
    assert "network create" in ans["Fix"]
    rc, ans = diag(host, "xd", f"{host.ip_of('xe', 'bridge')}:{PORT}")
    assert rc == 0, ans


def test_icc_off(world):
    host = world
    rc, ans = diag(host, "xf", f"xg:{PORT}")
    assert rc == 1 and causes(ans) == ["icc-off"], ans
    assert "enable_icc=false" in ans["Causes"][0]["Detail"]
    assert not ans["Probe"]["Reached"], ans
    assert not reach(host, "xf", host.ip_of("xg", NOICC), PORT)


def test_internal_and_foreign_table(world, outside):
    """xi (internal only) cannot reach the outside world; xa (dgnet) can, until a
    foreign table's forward chain drops, and again once it is gone."""
    host = world
    out = outside(host)
    rc, ans = diag(host, "xi", out.ip)
    assert rc == 1 and causes(ans) == ["internal"], ans
    assert not ans["Probe"]["Reached"], ans
    rc, ans = diag(host, "xa", out.ip)
    assert rc == 0 and ans["Causes"] == [], ans
    host.sh("nft add table ip foreign && nft add chain ip foreign fwdrop "
            "'{ type filter hook forward priority 0; policy drop; }'")
    try:
        rc, ans = diag(host, "xa", out.ip)
        assert rc == 1 and causes(ans) == ["foreign-table"], ans
        assert "ip foreign fwdrop" in ans["Causes"][0]["Detail"]
        assert ans["Fix"].startswith("nft insert rule ip foreign fwdrop"), ans
        assert not ans["Probe"]["Reached"], ans
    finally:
        host.sh("nft delete table ip foreign")
    rc, ans = diag(host, "xa", out.ip)
    assert rc == 0, ans


def test_policy(world):
    host = world
    pol = json.dumps({"ingress": [{"container": "xa", "ports": [f"{PORT}/tcp"]}]})
    _run(host, "xp", "--network", NET, "--label", "com.boxnet.policy=" + pol)
    wait_ready(host, "xp", PORT)
    rc, ans = diag(host, "xb", f"xp:{PORT}")
    assert rc == 1 and causes(ans) == ["policy"], ans
    assert "ingress policy" in ans["Causes"][0]["Detail"]
    assert not ans["Probe"]["Reached"]
    rc, ans = diag(host, "xa", f"xp:{PORT}")
    assert rc == 0, ans


def test_mtu_mismatch(world):
    """xb's eth0 set to MTU 1300 while xa's stays 1500: a small ping passes, xa's
    1500-byte echo with DF is lost on xb's side (the veth drops what exceeds its MTU)."""
    host = world
    ns = netns_of(host, "xb")
    host_run = ["nsenter", f"--net={ns}", "ip", "link", "set", "eth0", "mtu"]
    run(host_run + ["1300"])
    try:
        rc, ans = diag(host, "xa", "xb")
        assert rc == 1 and causes(ans) == ["mtu-mismatch"], ans
        assert "1500" in ans["Causes"][0]["Detail"] and "mtu=1300" in ans["Fix"], ans
        assert "up to 1300 bytes" in ans["Verdict"], ans
        result = ans["Probe"]["Result"]
        assert "answered" in result and "of 1500 bytes (DF)" in result and "no answer" in result
    finally:
        run(host_run + ["1500"])
    rc, ans = diag(host, "xa", "xb")
    assert rc == 0 and ans["Causes"] == [], ans


def test_unknown_container_and_bad_input(world):
    host = world
    r = host.cli("network", "diagnose", "nosuch", f"xb:{PORT}", check=False)
    assert r.returncode == 1 and "nosuch" in r.stderr, r.stdout + r.stderr
    r = host.cli("network", "diagnose", "xa", "nosuch", check=False)
    assert r.returncode == 1 and "nosuch" in r.stderr
    host.cli("run", "-d", "--name", "xs", "--network", NET, "boxnet/host", "sleep", "600")
    host.cli("stop", "-t", "0", "xs")
    r = host.cli("network", "diagnose", "xs", "xb", check=False)
    assert r.returncode == 1 and "xs is not running" in r.stderr, r.stdout + r.stderr
    rc, ans = diag(host, "xa", "xs")
    assert rc == 1 and causes(ans) == ["not-running"] and ans["Fix"] == "boxnet start xs", ans
    status, body = host.api("GET", "/boxnet/v1/diagnose?from=xa&to=nosuch")
    assert status == 404 and "nosuch" in body["message"], body
    status, body = host.api("GET", "/boxnet/v1/diagnose?from=xa&to=xb&port=70000")
    assert status == 400 and "port" in body["message"], body
    status, body = host.api("GET", "/boxnet/v1/diagnose?from=xa&to=xb&port=1&proto=sctp")
    assert status == 400 and "sctp" in body["message"], body
