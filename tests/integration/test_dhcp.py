"""The "dhcp" IPAM driver on a macvlan network (issue 18 item 8): each container's
address, gateway and DNS servers are leased from Debian's dnsmasq running as the
DHCP (and DNS) server of a simulated LAN (tests/integration/lan.py), renewed at
T1 by the daemon (dnsmasq's minimum lease, 2 min: T1 = 60 s), kept across a
daemon restart, released at rm; bad combinations are refused naming them."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from boxnet.kernel import features
from integration.lan import Lan

pytestmark = pytest.mark.kernel

SLEEP = ["busybox", "sleep", "3600"]
ROUTER = "198.19.100.1"
PRINTER = "198.19.100.77"


def _poll(what: str, fn, timeout: float):
    """fn() until truthy, or fail naming `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        out = fn()
        if out:
            return out
        if time.monotonic() > end:
            pytest.fail(f"timed out ({timeout:.0f} s) waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def lan(host):
    """eth1 on a LAN whose host runs dnsmasq: DHCP .50-.99 for 2 min, DNS with one name."""
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq is not installed (scripts/install.sh --dev installs it)")
    # The host has an address on the LAN, as a macvlan parent usually does: the
    # embedded DNS forwards from the daemon's netns (dns/forwarder.py), so the
    # lease's DNS server must be reachable from the host.
    world = Lan(host.name, router_addrs=(f"{ROUTER}/24",), host_addrs=("198.19.100.10/24",))
    tmp = tempfile.mkdtemp(prefix="bxt-dnsmasq-")
    world.leasefile = os.path.join(tmp, "leases")
    world.logfile = os.path.join(tmp, "log")
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{world.lanhost}", "dnsmasq", "--no-daemon",
         "--conf-file=/dev/null", "--user=root", "--interface=eth0", "--bind-interfaces",
         "--no-resolv", "--no-hosts", f"--host-record=printer.lan.test,{PRINTER}",
         "--dhcp-range=198.19.100.50,198.19.100.99,2m", f"--dhcp-leasefile={world.leasefile}",
         "--log-dhcp", f"--log-facility={world.logfile}", f"--pid-file={tmp}/pid"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _poll("dnsmasq to start", lambda: os.path.exists(world.logfile) and "DHCP, IP range"
              in open(world.logfile).read(), 20)
        host.cli("network", "create", "-d", "macvlan", "--ipam-driver", "dhcp",
                 "-o", "parent=eth1", "dlan")
        yield world
    finally:
        host.cli("rm", "-f", "d1", "d2", check=False)
        host.cli("network", "rm", "dlan", check=False)
        proc.terminate()
        proc.wait(10)
        world.teardown()
        shutil.rmtree(tmp, ignore_errors=True)


def dnsmasq_log(lan) -> str:
    """What dnsmasq logged so far."""
    with open(lan.logfile) as f:
        return f.read()


def leases_file(lan) -> str:
    """dnsmasq's lease file: "expiry mac ip hostname client-id" lines."""
    try:
        with open(lan.leasefile) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def addr_inside(host, name: str) -> list[str]:
    """The IPv4 addresses (ip/prefix) on eth0 inside the container."""
    out = host.exec(name, "ip", "-o", "-4", "addr", "show", "dev", "eth0", check=True).stdout
    return [w for line in out.splitlines() for i, w in enumerate(line.split())
            if i > 0 and line.split()[i - 1] == "inet"]


def lease_entry(host, name: str) -> dict:
    """The network inspect's boxnet lease entry of a container's endpoint."""
    ep = host.inspect(name)["NetworkSettings"]["Networks"]["dlan"]["EndpointID"]
    return host.network("dlan")["BoxnetDhcpLeases"][ep]


def test_bad_input_names_the_conflict(host, lan):
    """dhcp with a bridge network, --subnet, --internal, --ipam-opt, and --ip on a dhcp
    network: 400s naming the conflict, and no network made."""
    r = host.cli("network", "create", "--ipam-driver", "dhcp", "nope", check=False)
    assert r.returncode != 0 and "dhcp IPAM driver needs a macvlan or ipvlan" in r.stderr
    r = host.cli("network", "create", "-d", "macvlan", "--ipam-driver", "dhcp", "--subnet",
                 "198.19.100.0/24", "-o", "parent=eth1", "nope", check=False)
    assert r.returncode != 0 and "--subnet cannot be given" in r.stderr, r.stderr
    r = host.cli("run", "-d", "--name", "nope", "--network", "dlan", "--ip", "198.19.100.60",
                 *SLEEP, check=False)
    assert r.returncode != 0 and "dhcp IPAM driver" in r.stderr and "--ip" in r.stderr
    host.cli("rm", "-f", "nope", check=False)
    r = host.cli("network", "create", "-d", "macvlan", "--ipam-driver", "dhcp", "--internal",
                 "nope", check=False)
    assert r.returncode != 0 and "internal network has no DHCP server" in r.stderr, r.stderr
    r = host.cli("network", "create", "-d", "macvlan", "--ipam-driver", "dhcp", "--ipam-opt",
                 "x=1", "-o", "parent=eth1", "nope", check=False)
    assert r.returncode != 0 and "--ipam-opt x cannot be given" in r.stderr, r.stderr
    names = host.cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "nope" not in names


def test_lease_used_renewed_kept_across_restart_and_released(host, lan):
    """The container holds the dnsmasq lease (ip addr inside, inspect, lease file), its
    default route and DNS come from it, the LAN host reaches it; the daemon restarts
    and keeps it; dnsmasq sees the renewal at T1; rm releases it."""
    t0 = time.monotonic()
    host.cli("run", "-d", "--name", "d1", "--network", "dlan", *SLEEP)
    mac = host.inspect("d1")["NetworkSettings"]["Networks"]["dlan"]["MacAddress"]
    cidr = host.inspect("d1")["NetworkSettings"]["Networks"]["dlan"]["IPAddress"]
    ip = cidr.partition("/")[0] if "/" in cidr else cidr
    assert ip.startswith("198.19.100.") and 50 <= int(ip.rsplit(".", 1)[1]) <= 99, ip
    assert f"{ip}/24" in addr_inside(host, "d1")
    assert f"{mac} {ip}" in leases_file(lan), leases_file(lan)
    assert f"DHCPACK(eth0) {ip} {mac}" in dnsmasq_log(lan)
    assert f"default via {ROUTER} dev eth0" in host.exec("d1", "ip", "route", check=True).stdout
    assert lan.ping(ip), "the LAN host cannot reach the leased address"
    assert host.exec("d1", "ping", "-c1", "-W2", ROUTER).returncode == 0
    # the lease's DNS server (dnsmasq itself) is the embedded DNS's upstream
    r = host.exec("d1", "nslookup", "printer.lan.test", "127.0.0.11")
    assert PRINTER in r.stdout, r.stdout + r.stderr
    entry = lease_entry(host, "d1")
    assert entry["Address"] == f"{ip}/24" and entry["Server"] == ROUTER, entry
    assert entry["LeaseTime"] == 120 and entry["T1"] == 60 and entry["Renewals"] == 0, entry

    host.restart()
    assert f"{ip}/24" in addr_inside(host, "d1")
    assert lease_entry(host, "d1")["Address"] == f"{ip}/24"

    # T1 = 60 s after the ACK: the restored task renews by a unicast REQUEST
    requests_before = dnsmasq_log(lan).count(f"DHCPREQUEST(eth0) {ip} {mac}")
    _poll("the renewal at T1 in dnsmasq's log",
          lambda: dnsmasq_log(lan).count(f"DHCPREQUEST(eth0) {ip} {mac}") > requests_before
          and lease_entry(host, "d1")["Renewals"] >= 1, max(10.0, 90 - (time.monotonic() - t0)))
    assert dnsmasq_log(lan).count(f"DHCPACK(eth0) {ip} {mac}") >= 2
    assert f"{ip}/24" in addr_inside(host, "d1")

    host.cli("rm", "-f", "d1")
    _poll("DHCPRELEASE in dnsmasq's log", lambda: f"DHCPRELEASE(eth0) {ip} {mac}"
          in dnsmasq_log(lan), 15)
    _poll("the lease gone from dnsmasq's lease file", lambda: mac not in leases_file(lan), 15)


def test_disconnect_releases_and_connect_leases_again(host, lan):
    """network disconnect sends DHCPRELEASE; a connect leases an address again."""
    host.cli("run", "-d", "--name", "d2", "--network", "dlan", *SLEEP)
    mac = host.inspect("d2")["NetworkSettings"]["Networks"]["dlan"]["MacAddress"]
    ip = lease_entry(host, "d2")["Address"].partition("/")[0]
    host.cli("network", "disconnect", "dlan", "d2")
    _poll("DHCPRELEASE of d2", lambda: f"DHCPRELEASE(eth0) {ip} {mac}" in dnsmasq_log(lan), 15)
    assert mac not in leases_file(lan)
    host.cli("network", "connect", "dlan", "d2")
    new = lease_entry(host, "d2")["Address"]
    assert new in addr_inside(host, "d2"), (new, addr_inside(host, "d2"))
    host.cli("rm", "-f", "d2")


@pytest.mark.skipif(not features.probe("ipvlan"), reason=features.missing_reason("ipvlan"))
def test_ipvlan_endpoints_share_a_mac_but_hold_leases_of_their_own(host, lan):
    """ipvlan L2 links all carry the parent's MAC: the client id (made from the endpoint
    id) gives each container its own lease and address."""
    lan.add_parent("eth2", "u-host2")
    host.cli("network", "create", "-d", "ipvlan", "--ipam-driver", "dhcp",
             "-o", "parent=eth2", "dlan6")
    try:
        for n in ("i1", "i2"):
            host.cli("run", "-d", "--name", n, "--network", "dlan6", *SLEEP)
        ips = [host.inspect(n)["NetworkSettings"]["Networks"]["dlan6"]["IPAddress"]
               for n in ("i1", "i2")]
        assert ips[0] != ips[1] and all(ip.startswith("198.19.100.") for ip in ips), ips
        for n, ip in zip(("i1", "i2"), ips):
            assert f"{ip.partition('/')[0]}/24" in addr_inside(host, n)
            assert lan.ping(ip.partition("/")[0])
        # dnsmasq writes the client id in hex: 00 then "boxnet-"
        assert leases_file(lan).count("00:62:6f:78:6e:65:74:2d") >= 2, leases_file(lan)
    finally:
        host.cli("rm", "-f", "i1", "i2", check=False)
        host.cli("network", "rm", "dlan6", check=False)


def _discovers(lan, mac: str) -> int:
    """How many DISCOVERs from `mac` dnsmasq logged (with or without a requested IP)."""
    return sum(1 for line in dnsmasq_log(lan).splitlines()
               if "DHCPDISCOVER(eth0)" in line and mac in line)


def _age_lease(host, endpoint_id: str, seconds: float) -> None:
    """Make the stored lease `seconds` older (the daemon is stopped): what a daemon
    that stayed down that long finds at its start."""
    db = sqlite3.connect(str(host.data_root / "boxnet.db"))
    try:
        (data,) = db.execute("SELECT data FROM dhcp_leases WHERE id = ?",
                             (endpoint_id,)).fetchone()
        rec = json.loads(data)
        rec["lease"]["acquired"] -= seconds
        db.execute("UPDATE dhcp_leases SET data = ? WHERE id = ?",
                   (json.dumps(rec), endpoint_id))
        db.commit()
    finally:
        db.close()


def test_a_daemon_down_past_t1_renews_at_once_and_past_expiry_discovers_again(host, lan):
    """Killed (-9) and down past T1: the restored task renews at its start; down past
    the lease's end: the address is leased again by a new DISCOVER (the same address,
    asked for by the same client id)."""
    host.cli("run", "-d", "--name", "d3", "--network", "dlan", *SLEEP)
    ep = host.inspect("d3")["NetworkSettings"]["Networks"]["dlan"]["EndpointID"]
    mac = host.inspect("d3")["NetworkSettings"]["Networks"]["dlan"]["MacAddress"]
    ip = lease_entry(host, "d3")["Address"].partition("/")[0]
    try:
        host.kill9()
        _age_lease(host, ep, 70)           # past T1 (60 s), before T2 (105 s)
        requests = dnsmasq_log(lan).count(f"DHCPREQUEST(eth0) {ip} {mac}")
        host.start(*host.daemon_args)
        _poll("the overdue renewal", lambda: dnsmasq_log(lan).count(
            f"DHCPREQUEST(eth0) {ip} {mac}") > requests, 20)
        _poll("the renewal in inspect", lambda: lease_entry(host, "d3")["Renewals"] == 1, 10)

        host.stop()
        _age_lease(host, ep, 200)          # past the end of the 120 s lease
        discovers = _discovers(lan, mac)
        host.start(*host.daemon_args)
        _poll("a new DISCOVER after the expiry", lambda: _discovers(lan, mac) > discovers, 20)
        _poll("the address leased again", lambda: lease_entry(host, "d3")["Renewals"] == 0
              and f"{ip}/24" in addr_inside(host, "d3"), 20)
        assert host.exec("d3", "ping", "-c1", "-W2", ROUTER).returncode == 0
    finally:
        if not host.running():
            host.start(*host.daemon_args)
        host.cli("rm", "-f", "d3", check=False)


def test_docker_py_creates_a_dhcp_network_and_its_container_holds_the_lease(host, lan):
    """docker-py: IPAMConfig(driver="dhcp"); the container's IPAddress is on its eth0 and
    in dnsmasq's lease file; a restart releases and leases again; a connect with
    ipv4_address is a 400 naming --ip."""
    import docker
    cl = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=120)
    net = cl.networks.create("dpy", driver="macvlan", options={"parent": "eth1"},
                             ipam=docker.types.IPAMConfig(driver="dhcp"))
    try:
        assert net.attrs["IPAM"]["Driver"] == "dhcp" and not net.attrs["IPAM"]["Config"]
        ctr = cl.containers.run("busybox", ["sleep", "3600"], detach=True, name="p1",
                                network="dpy")
        ctr.reload()
        ip = ctr.attrs["NetworkSettings"]["Networks"]["dpy"]["IPAddress"]
        mac = ctr.attrs["NetworkSettings"]["Networks"]["dpy"]["MacAddress"]
        code, out = ctr.exec_run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        assert code == 0 and f"inet {ip}/24" in out.decode(), out
        assert f"{mac} {ip}" in leases_file(lan)
        ctr.restart(timeout=1)      # stop releases the lease, start leases again
        _poll("DHCPRELEASE at stop", lambda: f"DHCPRELEASE(eth0) {ip} {mac}"
              in dnsmasq_log(lan), 15)
        ctr.reload()
        ip2 = ctr.attrs["NetworkSettings"]["Networks"]["dpy"]["IPAddress"]
        code, out = ctr.exec_run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        assert ip2 and code == 0 and f"inet {ip2}/24" in out.decode(), (ip2, out)
        cl.containers.create("busybox", ["sleep", "3600"], name="p2")
        with pytest.raises(docker.errors.APIError) as err:
            cl.api.connect_container_to_network("p2", "dpy", ipv4_address="198.19.100.60")
        assert err.value.status_code == 400 and "dhcp IPAM driver" in str(err.value)
    finally:
        host.cli("rm", "-f", "p1", "p2", check=False)
        net.remove()
        cl.close()


COMPOSE_PROJECT = """
name: bxdhcp
services:
  web:
    image: busybox
    command: ["sleep", "600"]
    networks: [lan]
networks:
  lan:
    driver: macvlan
    driver_opts: {parent: eth1}
    ipam: {driver: dhcp}
"""


def test_docker_compose_v2_network_with_ipam_driver_dhcp(host, lan, tmp_path):
    """docker compose v2: a project network with `ipam: {driver: dhcp}`; the service's
    container holds a dnsmasq lease on its eth0."""
    compose = str(Path(sys.executable).parent / "docker-compose")
    if not os.access(compose, os.X_OK):
        pytest.skip(f"docker compose v2 binary missing ({compose})")
    (tmp_path / "compose.yaml").write_text(COMPOSE_PROJECT)
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path))

    def dc(*args):
        return subprocess.run([compose, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
    try:
        r = dc("up", "-d")
        assert r.returncode == 0, r.stderr
        assert host.network("bxdhcp_lan")["IPAM"]["Driver"] == "dhcp"
        name = "bxdhcp-web-1"
        ip = host.inspect(name)["NetworkSettings"]["Networks"]["bxdhcp_lan"]["IPAddress"]
        out = host.exec(name, "ip", "-o", "-4", "addr", "show", "dev", "eth0", check=True)
        assert ip and f"inet {ip}/24" in out.stdout, (ip, out.stdout)
        assert f" {ip} " in leases_file(lan)
    finally:
        r = dc("down")
        assert r.returncode == 0, r.stderr
