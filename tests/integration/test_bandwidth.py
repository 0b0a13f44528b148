"""Per-endpoint bandwidth limits (issue 20 section 2), measured with iperf3
between real containers.

A server container runs `iperf3 -s`; a client container is started by the
docker CLI with `--network name=bwnet,driver-opt=com.boxnet.endpoint.
egress_rate=R,driver-opt=...ingress_rate=R/2`. Its egress is what
`iperf3 -c` sends, its ingress what `iperf3 -c -R` receives; the receiver's
rate (first second omitted: TCP's start and the bucket's burst) must be
within 10% of the limit, at 5, 50 and 500 Mbit/s (ingress 2.5, 25, 250).
Without a limit the same pair runs far above the highest limit, so the
measurement can fail. Bad rates are 400s naming the option, with no
container made and a connected container's networks unchanged.
"""

from __future__ import annotations

import json
import time

import pytest

from integration.healthutil import Docker

pytestmark = pytest.mark.kernel
NET, SUBNET = "bwnet", "10.96.0.0/24"
EG = "com.boxnet.endpoint.egress_rate"
ING = "com.boxnet.endpoint.ingress_rate"


@pytest.fixture(scope="module")
def world(host, tmp_path_factory):
    """The network and the iperf3 server; (host, docker, server IP)."""
    docker = Docker(host, tmp_path_factory.mktemp("docker"))
    docker("network", "create", "--subnet", SUBNET, NET)
    docker("run", "-d", "--name", "bwsrv", "--network", NET, "boxnet/host",
           "iperf3", "-s", "-p", "5201")
    return host, docker, host.ip_of("bwsrv", NET)


def _iperf(host, client: str, ip: str, reverse: bool) -> float:
    """Mbit/s received in one 5 s iperf3 run from `client` (reverse: the
    server sends), retried while the server is not listening yet."""
    args = ["iperf3", "-c", ip, "-p", "5201", "-t", "5", "-O", "1", "-J"] + \
        (["-R"] if reverse else [])
    last = {}

    def once():
        nonlocal last
        r = host.exec(client, *args, timeout=60)
        try:
            last = json.loads(r.stdout)
        except ValueError:
            last = {"error": r.stdout[-300:] + r.stderr[-300:]}
        return None if last.get("error") else last
    deadline = time.monotonic() + 60
    while (data := once()) is None:
        assert time.monotonic() < deadline, f"iperf3 from {client}: {last}"
        time.sleep(0.3)
    return data["end"]["sum_received"]["bits_per_second"] / 1e6


def _client(docker, name: str, egress: str | None, ingress: str | None):
    spec = f"name={NET}" + (f",driver-opt={EG}={egress}" if egress else "") + \
        (f",driver-opt={ING}={ingress}" if ingress else "")
    docker("run", "-d", "--name", name, "--network", spec, "boxnet/host", "sleep", "600")


def _within(measured: list[float], limit: float) -> None:
    print(f"limit {limit:g} Mbit/s: measured {[round(m, 2) for m in measured]}")
    # The limit is a ceiling: no run may exceed it by 10%; a run on the
    # loaded machine may fall short, so the best run must reach 90%.
    assert max(measured) <= limit * 1.10, (measured, limit)
    assert max(measured) >= limit * 0.90, (measured, limit)


@pytest.mark.parametrize("rate", [5, 50, 500])
def test_egress_and_ingress_at_the_limit(world, rate):
    host, docker, ip = world
    name = f"bwc{rate}"
    _client(docker, name, f"{rate}mbit", f"{rate / 2:g}mbit")
    try:
        for reverse, limit in ((False, rate), (True, rate / 2)):
            runs = [_iperf(host, name, ip, reverse)]
            if runs[0] < limit * 0.90:   # a slow run on a loaded machine: once more
                runs.append(_iperf(host, name, ip, reverse))
            _within(runs, limit)
        ifbs = [n for n in host.link_names() if n.startswith("bxifb")]
        assert ifbs, host.link_names()
    finally:
        docker("rm", "-f", name)
    assert not [n for n in host.link_names() if n.startswith("bxifb")], host.link_names()


def test_unlimited_is_above_the_highest_limit(world):
    """The same measurement without limits: well above 500 Mbit/s, so the
    limits above are the shaping's doing."""
    host, docker, ip = world
    _client(docker, "bwfree", None, None)
    try:
        free = _iperf(host, "bwfree", ip, False)
        print(f"no limit: {free:.0f} Mbit/s")
        assert free > 500 * 1.5
    finally:
        docker("rm", "-f", "bwfree")


@pytest.mark.parametrize("opt,value,words", [
    (EG, "0mbit", "above 0"), (ING, "0", "expected a number and a unit"),
    (EG, "11gbit", "beyond the link"), (ING, "fast", "expected a number and a unit"),
])
def test_bad_rate_refused_nothing_made(world, opt, value, words):
    host, docker, _ = world
    r = docker("run", "-d", "--name", "bwbad", "--network",
               f"name={NET},driver-opt={opt}={value}", "boxnet/host", "sleep", "600",
               check=False)
    assert r.returncode != 0 and opt in r.stderr and words in r.stderr, r.stderr
    assert "bwbad" not in docker("ps", "-a", "--format", "{{.Names}}").stdout


def test_bad_rate_on_connect_changes_nothing(world):
    host, docker, _ = world
    docker("network", "create", "bwother")
    docker("run", "-d", "--name", "bwconn", "--network", "bwother", "boxnet/host",
           "sleep", "600")
    try:
        r = docker("network", "connect", "--driver-opt", f"{EG}=0kbit", NET, "bwconn",
                   check=False)
        assert r.returncode != 0 and EG in r.stderr, r.stderr
        assert list(host.inspect("bwconn")["NetworkSettings"]["Networks"]) == ["bwother"]
        ifaces = host.exec("bwconn", "ls", "/sys/class/net").stdout.split()
        assert sorted(ifaces) == ["eth0", "lo"], ifaces
    finally:
        docker("rm", "-f", "bwconn")
        docker("network", "rm", "bwother")


COMPOSE = """
name: bwp
services:
  srv:
    image: boxnet/host
    command: ["iperf3", "-s", "-p", "5201"]
  cli:
    image: boxnet/host
    command: ["sleep", "600"]
    x-boxnet:
      bandwidth: {egress: 20mbit, ingress: 10mbit}
"""


def test_compose_x_boxnet_bandwidth(world, tmp_path):
    """`x-boxnet: {bandwidth: ...}` in boxnet compose: the replica's endpoint
    carries both options and iperf3 from inside it meets both limits; a
    malformed block is refused at load with nothing made."""
    host, docker, _ = world
    f = tmp_path / "compose.yaml"
    f.write_text(COMPOSE)
    host.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        ep = host.inspect("bwp-cli-1")["NetworkSettings"]["Networks"]["bwp_default"]
        assert ep["DriverOpts"] == {EG: "20mbit", ING: "10mbit"}, ep
        ip = host.ip_of("bwp-srv-1", "bwp_default")
        for reverse, limit in ((False, 20), (True, 10)):
            runs = [_iperf(host, "bwp-cli-1", ip, reverse)]
            if runs[0] < limit * 0.90:
                runs.append(_iperf(host, "bwp-cli-1", ip, reverse))
            _within(runs, limit)
    finally:
        host.cli("compose", "-f", str(f), "down", "-t", "1", timeout=120)
    f.write_text(COMPOSE.replace("ingress: 10mbit", "ingres: 10mbit"))
    r = host.cli("compose", "-f", str(f), "up", "-d", check=False, timeout=120)
    assert r.returncode != 0 and "unknown bandwidth key 'ingres'" in r.stderr, r.stderr
    assert not [n for n in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
                if n.startswith("bwp-")]


def test_limits_survive_restart_and_leave_nothing(world):
    """docker restart re-plumbs the endpoint: the limit holds again (a fresh
    IFB, the old one gone); disconnect removes it."""
    host, docker, ip = world
    _client(docker, "bwrs", "20mbit", None)
    try:
        docker("restart", "-t", "1", "bwrs")
        assert len([n for n in host.link_names() if n.startswith("bxifb")]) == 1
        runs = [_iperf(host, "bwrs", ip, False)]
        if runs[0] < 20 * 0.90:
            runs.append(_iperf(host, "bwrs", ip, False))
        _within(runs, 20)
        docker("network", "disconnect", NET, "bwrs")
        assert not [n for n in host.link_names() if n.startswith("bxifb")], host.link_names()
    finally:
        docker("rm", "-f", "bwrs")
