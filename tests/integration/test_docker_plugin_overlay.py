"""The ``boxnet-overlay`` Docker plugin driver across two dockerd hosts through etcd (issue 19).

Two test hosts on one underlay with one etcd (multihost.py); on each, boxnetd in
cluster mode with --docker-plugin, and a stock dockerd beside it (dockerd.py).
Each dockerd creates its own network with ``-d boxnet-overlay --ipam-driver
boxnet-overlay``; boxnet puts both on one overlay in etcd.  Proven from inside
Docker's containers: ping by IP both ways, addresses unique across hosts,
names across hosts through boxnetd's cluster resolver (``--dns``), one host's
removals leave the other's endpoints working, bad input is ``{"Err": ...}``
with nothing left in the kernel or in etcd.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal

import pytest

from . import dockerd as dk
from .harness import UnixHTTPConnection
from .multihost import Cluster, wait_for

pytestmark = pytest.mark.kernel
NET = ("network", "create", "-d", "boxnet-overlay", "--ipam-driver", "boxnet-overlay")
_no_dns_ip = "192.168.250.2"   # multihost's first etcd node (checked in the fixture)


@pytest.fixture(scope="module")
def two():
    """(cluster, [dockerd on host a, dockerd on host b]), busybox loaded in both."""
    if os.geteuid() != 0:
        pytest.skip("needs root (netns, VXLAN, runc)")
    if shutil.which("etcd") is None:
        pytest.skip("etcd not installed (apt-get install etcd-server etcd-client)")
    why = dk.available()
    if why:
        pytest.skip(why)
    cl = Cluster(hosts=2, etcd_nodes=1, ttl=6)
    ds: list[dk.Dockerd] = []
    try:
        assert _no_dns(cl) == _no_dns_ip
        for h in cl.hosts:
            plugins = h.dir / "plugins"
            plugins.mkdir()
            h.stop()
            # upstream DNS inside the test world (the etcd node: nothing on port 53), never
            # the machine's resolver: boxnetd's (its cluster resolver forwards there)...
            h.start(*cl.flags(h), "--docker-plugin", str(plugins / "boxnet.sock"),
                    "--dns", _no_dns(cl))
            assert (plugins / "boxnet-overlay.sock").exists(), h.log_tail(30)
            d = dk.Dockerd(h, plugins)
            ds.append(d)
            d.start()
            d.load_busybox()
        yield cl, ds
    finally:
        for d in ds:
            d.stop()
        problems = cl.teardown()
        assert not problems, problems


def _no_dns(cl) -> str:
    """An upstream DNS address inside the test world that answers nothing."""
    return cl.etcd[0].ip


def _run(d: dk.Dockerd, name: str, net: str, *extra: str) -> None:
    # ...and the containers' (Docker's embedded DNS forwards to its --dns servers)
    dns = () if "--dns" in extra else ("--dns", _no_dns_ip)
    d.cli("run", "-d", "--name", name, "--network", net, *dns, *extra, "busybox",
          "busybox", "sleep", "3600")


def _ip(d: dk.Dockerd, name: str) -> str:
    nets = json.loads(d.cli("inspect", name).stdout)[0]["NetworkSettings"]["Networks"]
    return next(n["IPAddress"] for k, n in nets.items() if k != "docker_gwbridge")


def _ping(d: dk.Dockerd, name: str, target: str, tries: int = 3) -> bool:
    return any(d.cli("exec", name, "busybox", "ping", "-c", "1", "-W", "2", target,
                     check=False).returncode == 0 for _ in range(tries))


def _call(h, call: str, body: dict) -> tuple[int, dict]:
    """One call on the boxnet-overlay socket, as dockerd makes it."""
    conn = UnixHTTPConnection(str(h.dir / "plugins" / "boxnet-overlay.sock"))
    try:
        conn.request("POST", "/" + call, body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def _overlay(h, name: str) -> dict | None:
    st, body = h.api("GET", f"/networks/{name}")
    return body if st == 200 else None


def _etcd_keys(cl, prefix: str) -> list[str]:
    out = cl.etcdctl("get", "--prefix", "--keys-only", prefix).stdout
    return [k for k in out.split() if k]


def test_one_overlay_across_two_dockerds_ping_by_ip(two):
    """Both dockerds create `web` with the same name and subnet: boxnet shows ONE global
    overlay on both hosts; a container on each host gets a distinct address (claimed
    in etcd) and they ping each other by IP, both ways, over VXLAN."""
    cl, (da, db) = two
    a, b = cl.hosts
    nid_a = da.cli(*NET, "--subnet", "10.201.0.0/24", "-o", "com.boxnet.overlay.name=web",
                   "web").stdout.strip()
    nid_b = db.cli(*NET, "--subnet", "10.201.0.0/24", "-o", "com.boxnet.overlay.name=web",
                   "web").stdout.strip()
    assert nid_a != nid_b   # each dockerd's own network...
    ov_a = _overlay(a, "web")
    ov_b = wait_for(lambda: _overlay(b, "web"), what="the overlay on host b")
    assert ov_a and ov_a["Id"] == ov_b["Id"] and ov_a["Driver"] == "overlay"  # ...one overlay
    assert ov_a["IPAM"]["Config"][0]["Subnet"] == "10.201.0.0/24"
    _run(da, "a1", "web")
    _run(db, "b1", "web")
    ip_a, ip_b = _ip(da, "a1"), _ip(db, "b1")
    assert ip_a.startswith("10.201.0.") and ip_b.startswith("10.201.0.")
    assert ip_a != ip_b, "one address handed out on two hosts"
    claims = _etcd_keys(cl, f"/boxnet/ipam/{ov_a['Id']}/")
    assert {k.rsplit("/", 1)[1] for k in claims} == {ip_a, ip_b}, claims
    # a static address held on the other host is refused (claims are cluster-wide)...
    r = db.cli("run", "-d", "--name", "bx", "--network", "web", "--ip", ip_a, "busybox",
               "busybox", "sleep", "3600", check=False)
    assert r.returncode != 0 and "Address already in use" in r.stderr, r.stderr
    db.cli("rm", "-f", "bx")
    assert {k.rsplit("/", 1)[1] for k in _etcd_keys(cl, f"/boxnet/ipam/{ov_a['Id']}/")} \
        == {ip_a, ip_b}, "the refused start left a claim"
    # ...a free one is honoured, and pings across
    _run(db, "bs", "web", "--ip", "10.201.0.77")
    assert _ip(db, "bs") == "10.201.0.77"
    assert _ping(da, "a1", "10.201.0.77")
    db.cli("rm", "-f", "bs")
    assert _ping(da, "a1", ip_b), "host a's container cannot reach host b's by IP"
    assert _ping(db, "b1", ip_a), "host b's container cannot reach host a's by IP"
    # the container end is Docker's eth0 with the overlay's MTU; host end on boxnet's bridge
    link = da.cli("exec", "a1", "busybox", "ip", "-o", "link", "show", "eth0").stdout
    assert "mtu 1450" in link, link
    # no gateway from the overlay: Docker's gateway service (docker_gwbridge) gives the
    # default route, as for Docker's own overlay driver
    nets = json.loads(da.cli("inspect", "a1").stdout)[0]["NetworkSettings"]["Networks"]
    assert nets["web"]["Gateway"] == ""
    gw = json.loads(da.cli("network", "inspect", "docker_gwbridge").stdout)[0]
    route = da.cli("exec", "a1", "busybox", "ip", "route").stdout
    assert f"default via {gw['IPAM']['Config'][0]['Gateway']} dev eth1" in route, route
    assert [n for n in a.sh(f"ip -o link show master ov-{ov_a['Id'][:12]}").stdout.splitlines()
            if ": veth" in n], "no veth on the overlay bridge"



def _fdb_macs(h, nid: str) -> set[str]:
    """MACs with a static VXLAN destination on host ``h`` (the bridge's learned ones aside)."""
    out = h.sh(f"bridge fdb show dev vx-{nid[:12]}", check=False).stdout
    return {ln.split()[0] for ln in out.splitlines() if " dst " in ln}


def _etcd_macs(cl, nid: str) -> set[str]:
    """MACs of the overlay's endpoint records in etcd."""
    out = cl.etcdctl("get", "--prefix", "--print-value-only", f"/boxnet/endpoints/{nid}/").stdout
    return {json.loads(ln)["mac"] for ln in out.splitlines() if ln.strip()}


def _names_opt(name: str) -> str:
    return f"name=web,driver-opt=com.boxnet.dns.names={name}"


def _lookup(d: dk.Dockerd, name: str, target: str) -> str:
    return d.cli("exec", name, "busybox", "nslookup", target, check=False).stdout


def test_names_across_hosts_through_the_cluster_resolver(two):
    """The recommended way: the endpoint's names as `driver-opt=com.boxnet.dns.names=`,
    boxnetd's cluster resolver (the host's advertise address) as `--dns`.  Docker's
    embedded DNS forwards the other host's names there: ping by name both ways, and
    `NAME.<overlay>` too.  Without `--dns` the other host's name does not resolve
    (Docker's own DNS knows only its host's containers)."""
    cl, (da, db) = two
    a, b = cl.hosts
    _run(da, "a2", _names_opt("a2"), "--dns", a.underlay_ip)
    _run(db, "b2", _names_opt("b2"), "--dns", b.underlay_ip)
    ip_a2, ip_b2 = _ip(da, "a2"), _ip(db, "b2")
    out = wait_for(lambda: (o := _lookup(da, "a2", "b2")) and ip_b2 in o and o,
                   timeout=30, what="b2 resolved on host a")
    assert ip_b2 in out, out
    assert _ping(da, "a2", "b2"), "host a's container cannot reach b2 by name"
    assert _ping(db, "b2", "a2"), "host b's container cannot reach a2 by name"
    assert ip_a2 in _lookup(db, "b2", "a2.web")
    # a container of host a without boxnet's resolver: Docker's DNS alone does not know b2
    assert ip_b2 not in _lookup(da, "a1", "b2"), "resolved without the cluster resolver?"
    # ...and Docker's own embedded DNS still answers its host's containers
    assert ip_a2 in _lookup(da, "a1", "a2")


def test_boxnetd_restart_keeps_docker_endpoints(two):
    """boxnetd restarted on host a under running Docker containers: their veths, claims
    and records stay (reconcile keeps Docker's endpoints, the resync re-publishes
    them), traffic across hosts goes on, and a new container joins afterwards."""
    cl, (da, db) = two
    a, b = cl.hosts
    nid = _overlay(a, "web")["Id"]
    before = set(_etcd_keys(cl, f"/boxnet/endpoints/{nid}/"))
    a.restart()
    assert (a.dir / "plugins" / "boxnet-overlay.sock").exists()
    wait_for(lambda: set(_etcd_keys(cl, f"/boxnet/endpoints/{nid}/")) == before,
             what="records as before the restart")
    assert _ping(db, "b1", _ip(da, "a1")) and _ping(da, "a2", "b2")
    _run(da, "a3", "web")
    assert _ping(db, "b1", _ip(da, "a3")), "no new endpoint after the restart"
    da.cli("rm", "-f", "a3")


def test_dockerd_restart_releases_and_rejoins(two):
    """dockerd restarted on host b: the containers it stopped leave through the plugin
    (their records and claims withdrawn from etcd), its network still maps onto the
    overlay afterwards, and a restarted container rejoins and pings across."""
    cl, (da, db) = two
    a, b = cl.hosts
    nid = _overlay(a, "web")["Id"]
    ip_b1 = _ip(db, "b1")
    db.proc.send_signal(signal.SIGTERM)
    db.proc.wait(60)
    wait_for(lambda: ip_b1 not in {k.rsplit("/", 1)[1] for k in
                                   _etcd_keys(cl, f"/boxnet/ipam/{nid}/")},
             what="b1's claim withdrawn when dockerd stopped it")
    db.start()
    db.cli("start", "b1", "b2")
    assert _ping(da, "a1", _ip(db, "b1")), "b1 did not rejoin the overlay"
    assert _ping(db, "b2", "a2"), "names lost after dockerd's restart"
    assert len(_etcd_keys(cl, f"/boxnet/dockerusers/{nid}/")) == 2


def test_removal_on_one_host_leaves_the_other_working(two):
    """A container removed on host a withdraws its claim and record (host b drops its
    FDB entry) while the rest keeps talking; `docker network rm` on host a leaves the
    overlay to host b, whose containers still reach each other; the last dockerd's
    `network rm` removes the overlay from etcd and both hosts' kernels."""
    cl, (da, db) = two
    a, b = cl.hosts
    nid = _overlay(a, "web")["Id"]
    assert _etcd_macs(cl, nid) == _fdb_macs(b, nid) | _fdb_macs(a, nid), "peers not programmed"
    mac_a1 = json.loads(da.cli("inspect", "a1").stdout)[0]["NetworkSettings"]["Networks"][
        "web"]["MacAddress"]
    ip_a1 = _ip(da, "a1")
    da.cli("rm", "-f", "a1")
    wait_for(lambda: ip_a1 not in {k.rsplit("/", 1)[1] for k in
                                   _etcd_keys(cl, f"/boxnet/ipam/{nid}/")},
             what="a1's claim withdrawn")
    assert mac_a1 not in _etcd_macs(cl, nid)
    wait_for(lambda: mac_a1 not in _fdb_macs(b, nid), what="a1's FDB entry gone on host b")
    assert _ping(db, "b1", _ip(da, "a2")), "a removal on host a broke the rest"
    da.cli("rm", "-f", "a2")
    da.cli("network", "rm", "web")
    assert _etcd_keys(cl, f"/boxnet/networks/{nid}"), "host b's overlay went with host a's"
    _run(db, "b3", "web")
    assert _ping(db, "b1", _ip(db, "b3")), "host b's containers lost each other"
    assert _ping(db, "b3", _ip(db, "b2"))
    db.cli("rm", "-f", "b1", "b2", "b3")
    db.cli("network", "rm", "web")
    wait_for(lambda: not _etcd_keys(cl, f"/boxnet/networks/{nid}"), what="overlay removed")
    assert not _etcd_keys(cl, f"/boxnet/ipam/{nid}/")
    assert not _etcd_keys(cl, f"/boxnet/dockerusers/{nid}/")
    for h in (a, b):
        wait_for(lambda h=h: f"ov-{nid[:12]}" not in h.link_names(), what="bridge gone")
        assert not [n for n in h.link_names() if n.startswith(("vbx", "veth"))], h.link_names()


def test_both_hosts_create_at_once_and_meet(two):
    """Both dockerds create the same overlay at the same instant: one claim wins in etcd,
    the other host joins it (no error, one overlay, containers on both reach each other)."""
    cl, (da, db) = two
    a, b = cl.hosts
    args = (*NET, "--subnet", "10.206.0.0/24", "race")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda d: d.cli(*args, check=False), (da, db)))
    ids: set[str] = set()
    try:
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        ids = {_overlay(h, "dov-10.206.0.0-24")["Id"] for h in (a, b)}   # the default name
        assert len(ids) == 1, ids
        _run(da, "ra", "race")
        _run(db, "rb", "race")
        assert _ping(da, "ra", _ip(db, "rb")) and _ping(db, "rb", _ip(da, "ra"))
    finally:
        for d in (da, db):
            d.cli("rm", "-f", "ra", "rb", check=False)
            d.cli("network", "rm", "race", check=False)
    for nid in ids:
        wait_for(lambda nid=nid: not _etcd_keys(cl, f"/boxnet/networks/{nid}"),
                 what="race removed")


def test_bad_input_is_refused_and_leaves_nothing(two):
    """An unknown -o option, Docker's default IPAM, a second host's subnet that is not
    the overlay's, an overlapping subnet, an unknown endpoint option (its address
    released again): dockerd shows boxnet's error, and neither
    the kernels nor etcd keep anything.  Straight on the socket: an address outside
    the pool, an unknown pool, IPv6, an endpoint of an unknown network: {"Err": ...}."""
    cl, (da, db) = two
    a, b = cl.hosts
    links = [set(h.link_names()) for h in (a, b)]
    nets = _etcd_keys(cl, "/boxnet/networks/")
    r = da.cli(*NET, "--subnet", "10.202.0.0/24", "-o", "com.example.bogus=1", "x1",
               check=False)
    assert r.returncode != 0 and "com.example.bogus" in r.stderr, r.stderr
    r = da.cli("network", "create", "-d", "boxnet-overlay", "--subnet", "10.202.0.0/24", "x2",
               check=False)
    assert r.returncode != 0 and "--ipam-driver boxnet-overlay" in r.stderr, r.stderr
    da.cli(*NET, "--subnet", "10.204.0.0/24", "-o", "com.boxnet.overlay.name=w2", "w2")
    try:
        r = db.cli(*NET, "--subnet", "10.205.0.0/24", "-o", "com.boxnet.overlay.name=w2",
                   "w2", check=False)
        assert r.returncode != 0 and "--subnet 10.204.0.0/24" in r.stderr, r.stderr
        r = db.cli(*NET, "--subnet", "10.204.0.0/16", "w3", check=False)
        assert r.returncode != 0 and "overlaps" in r.stderr, r.stderr
        assert "w2" not in db.cli("network", "ls", "--format", "{{.Name}}").stdout.split()
        # a refused CreateEndpoint: Docker releases the address claimed before it
        r = da.cli("run", "-d", "--name", "bad-ep", "--network",
                   "name=w2,driver-opt=com.example.z=1", "busybox", "busybox", "sleep", "60",
                   check=False)
        assert r.returncode != 0 and "com.example.z" in r.stderr, r.stderr
        da.cli("rm", "-f", "bad-ep")
        w2 = _overlay(a, "w2")["Id"]
        assert not _etcd_keys(cl, f"/boxnet/ipam/{w2}/"), "the refused endpoint kept its claim"
        assert not [n for n in a.link_names() if n.startswith(("vbx", "veth"))]
        st, body = _call(b, "IpamDriver.RequestAddress",
                         {"PoolID": "10.204.0.0/24", "Address": "10.209.0.5"})
        assert st == 500 and "outside the pool" in body["Err"], body
        st, body = _call(b, "IpamDriver.RequestAddress", {"PoolID": "10.250.0.0/24"})
        assert st == 500 and "no boxnet overlay" in body["Err"], body
        st, body = _call(b, "IpamDriver.RequestPool", {"Pool": "fd00:77::/64", "V6": True})
        assert st == 500 and "IPv6" in body["Err"], body
        st, body = _call(b, "NetworkDriver.CreateEndpoint", {
            "NetworkID": "f" * 64, "EndpointID": "e" * 64,
            "Interface": {"Address": "10.204.0.9/24"}})
        assert st == 500 and "not found" in body["Err"], body
    finally:
        da.cli("network", "rm", "w2", check=False)
    wait_for(lambda: _etcd_keys(cl, "/boxnet/networks/") == nets, what="etcd as before")
    for h, before in zip((a, b), links):
        wait_for(lambda h=h, before=before: set(h.link_names()) <= before,
                 what=f"no new links on {h.name}")
