"""`--network container:X` on the real kernel: the sharer sits in X's network namespace
(same interfaces and addresses, talk over 127.0.0.1, X's embedded DNS answers it), has no
endpoints of its own, is refused what only an own stack allows, cannot start without a
running X, survives X going away, and is re-adopted with X after a daemon restart."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.kernel

PORT = "7000"
# Listens on loopback only (busybox nc cannot bind an address; httpd can): reachable
# from X's namespace, from nowhere else.
LOOPBACK_SERVER = ["busybox", "sh", "-c", "mkdir -p /tmp/w && echo main-ok > /tmp/w/index.html"
                   f" && exec httpd -f -p 127.0.0.1:{PORT} -h /tmp/w"]


def fetch(h, container: str, addr: str = "127.0.0.1") -> str:
    """The page at addr:PORT fetched from inside `container` ("" if unreachable)."""
    r = h.exec(container, "sh", "-c", f"timeout 5 wget -qO- http://{addr}:{PORT}/")
    return r.stdout.strip() if r.returncode == 0 else ""


def loopback_reply(h, container: str) -> str:
    """What the server at 127.0.0.1:PORT answers from inside `container`."""
    return fetch(h, container)


def addrs(h, container: str) -> list[str]:
    """`ip -o addr` inside the container, reduced to interface + address."""
    out = h.exec(container, "ip", "-o", "addr", check=True).stdout
    return sorted(" ".join(line.split()[1:4]) for line in out.splitlines())


def create(h, name: str, mode: str, *cmd: str, **extra) -> tuple[int, dict]:
    """POST /containers/create with a NetworkMode and extra top-level/HostConfig fields."""
    hc = {"NetworkMode": mode, **extra.pop("host_config", {})}
    body = {"Image": "busybox", "Cmd": list(cmd) or ["sleep", "3600"], "HostConfig": hc,
            **extra}
    return h.api("POST", f"/containers/create?name={name}", json=body)


@pytest.fixture(scope="module")
def pair(host):
    """nm-main (on nm-net, loopback server) and nm-side sharing its namespace."""
    h = host
    h.cli("network", "create", "nm-net")
    h.cli("run", "-d", "--name", "nm-main", "--network", "nm-net", *LOOPBACK_SERVER)
    h.cli("run", "-d", "--name", "nm-side", "--network", "container:nm-main",
          "busybox", "sleep", "3600")
    h.cli("run", "-d", "--name", "nm-peer", "--network", "nm-net", "busybox", "sleep", "3600")
    yield h
    h.cli("rm", "-f", "nm-side", "nm-main", "nm-peer", check=False)
    h.cli("network", "rm", "nm-net", check=False)


def test_same_interfaces_and_addresses(pair):
    h = pair
    side, main = addrs(h, "nm-side"), addrs(h, "nm-main")
    assert side == main
    ip = h.ip_of("nm-main", "nm-net")
    assert any(f"inet {ip}/" in a for a in side), side


def test_loopback_is_shared(pair):
    """The server bound to 127.0.0.1 in nm-main answers nm-side, and nobody outside."""
    h = pair
    assert loopback_reply(h, "nm-side") == "main-ok"
    ip = h.ip_of("nm-main", "nm-net")
    assert fetch(h, "nm-main", ip) == "", "the server should listen on loopback only"
    assert fetch(h, "nm-peer", ip) == "", "a loopback-only server was reachable from another netns"
    assert loopback_reply(h, "nm-peer") == ""


def test_inspect_shape(pair):
    h = pair
    main, side = h.inspect("nm-main"), h.inspect("nm-side")
    assert side["HostConfig"]["NetworkMode"] == "container:" + main["Id"]
    assert side["NetworkSettings"]["Networks"] == {}
    assert side["NetworkSettings"]["SandboxKey"] == ""
    assert side["Config"]["Hostname"] == main["Config"]["Hostname"]
    for key in ("HostsPath", "ResolvConfPath", "HostnamePath"):     # the owner's files
        assert side[key] == main[key] and os.path.exists(side[key]), key
    assert h.exec("nm-side", "hostname", check=True).stdout.strip() == \
        main["Config"]["Hostname"]
    members = {c["Name"] for c in h.network("nm-net")["Containers"].values()}
    assert "nm-main" in members and "nm-side" not in members
    listed = [c for c in h.api_ok("GET", "/containers/json") if c["Names"] == ["/nm-side"]]
    assert listed[0]["HostConfig"]["NetworkMode"] == "container:" + main["Id"]


def test_dns_and_etc_files_from_the_sharer(pair):
    h = pair
    for f in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname"):
        assert h.exec("nm-side", "cat", f, check=True).stdout == \
            h.exec("nm-main", "cat", f, check=True).stdout, f
    assert "nameserver 127.0.0.11" in h.exec("nm-side", "cat", "/etc/resolv.conf").stdout
    r = h.exec("nm-side", "nslookup", "nm-peer")
    assert r.returncode == 0 and h.ip_of("nm-peer", "nm-net") in r.stdout, r.stdout + r.stderr


def test_connect_refused(pair):
    h = pair
    status, body = h.api("POST", "/networks/nm-net/connect", json={"Container": "nm-side"})
    assert status in (400, 403), (status, body)
    assert "sharing network namespace with another container" in body["message"]
    assert h.inspect("nm-side")["NetworkSettings"]["Networks"] == {}


@pytest.mark.parametrize("extra,words", [
    ({"Hostname": "x"}, "hostname and the network mode"),
    ({"host_config": {"Dns": ["10.0.0.1"]}}, "dns and the network mode"),
    ({"host_config": {"ExtraHosts": ["a:10.0.0.1"]}}, "custom host-to-IP mapping"),
    ({"host_config": {"Links": ["nm-peer:p"]}}, "container type network can't be used with links"),
    ({"host_config": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
      "ExposedPorts": {"80/tcp": {}}}, "port publishing"),
    ({"host_config": {"PublishAllPorts": True}}, "port publishing"),
    ({"ExposedPorts": {"80/tcp": {}}}, "port exposing"),
    ({"MacAddress": "02:42:ac:11:00:99"}, "mac-address and the network mode"),
    ({"NetworkingConfig": {"EndpointsConfig": {"nm-net": {"MacAddress": "02:42:ac:11:00:99"}}}},
     "mac-address and the network mode"),
    ({"NetworkingConfig": {"EndpointsConfig": {"nm-net": {"Aliases": ["a"]}}}},
     "NetworkingConfig"),
])
def test_conflicting_options_refused(pair, extra, words):
    h = pair
    status, body = create(h, "nm-bad", "container:nm-main", **extra)
    try:
        assert status == 400, (status, body)
        assert body["message"].startswith("conflicting options: ") and words in body["message"]
    finally:
        h.cli("rm", "-f", "nm-bad", check=False)


def test_bad_format_and_empty_endpoint_entry(pair):
    h = pair
    status, body = create(h, "nm-bad", "container:")
    assert status == 400 and "invalid container format" in body["message"], body
    # An empty entry keyed by the mode (what older clients send) is accepted.
    status, body = create(h, "nm-ok", "container:nm-main",
                          NetworkingConfig={"EndpointsConfig": {"container:nm-main": {}}})
    try:
        assert status == 201, body
    finally:
        h.cli("rm", "-f", "nm-ok", check=False)


def test_target_missing_or_not_running(host):
    h = host
    status, body = create(h, "nm-orphan", "container:nm-nobody")  # not looked up at create
    assert status == 201, body
    try:
        status, body = h.api("POST", "/containers/nm-orphan/start")
        assert status == 500 and "No such container: nm-nobody" in body["message"], body
        assert create(h, "nm-idle", "bridge")[0] == 201   # created, never started
        assert create(h, "nm-late", "container:nm-idle")[0] == 201
        status, body = h.api("POST", "/containers/nm-late/start")
        assert status == 409, body
        assert "cannot join network namespace of a non running container" in body["message"]
        assert h.inspect("nm-late")["State"]["Running"] is False
        h.cli("start", "nm-idle")
        h.cli("start", "nm-late")
        assert h.inspect("nm-late")["State"]["Running"]
    finally:
        h.cli("rm", "-f", "nm-late", "nm-idle", "nm-orphan", check=False)


def test_target_stopped_and_removed(host):
    """As with Docker: the sharer keeps running (in a namespace left with lo only), cannot
    start again while the target is down, and follows the target's new namespace on its
    next start; removing the target is allowed and strands the sharer."""
    h = host
    h.cli("run", "-d", "--name", "nm-t", *LOOPBACK_SERVER)
    h.cli("run", "-d", "--name", "nm-s", "--network", "container:nm-t", "busybox", "sleep", "3600")
    try:
        assert loopback_reply(h, "nm-s") == "main-ok"
        h.cli("stop", "-t", "1", "nm-t")
        assert h.inspect("nm-s")["State"]["Running"]
        links = h.exec("nm-s", "ip", "-o", "link", check=True).stdout
        assert [x for x in links.splitlines() if ": lo:" not in x] == [], links
        h.cli("stop", "-t", "1", "nm-s")
        r = h.cli("start", "nm-s", check=False)
        assert r.returncode != 0 and "non running container" in r.stderr, r.stderr
        h.cli("start", "nm-t")
        h.cli("start", "nm-s")
        assert addrs(h, "nm-s") == addrs(h, "nm-t")
        assert loopback_reply(h, "nm-s") == "main-ok"
        t_id = h.inspect("nm-t")["Id"]
        h.cli("rm", "-f", "nm-t")
        assert h.inspect("nm-s")["State"]["Running"]
        h.cli("stop", "-t", "1", "nm-s")
        r = h.cli("start", "nm-s", check=False)
        assert r.returncode != 0 and f"No such container: {t_id}" in r.stderr, r.stderr
    finally:
        h.cli("rm", "-f", "nm-s", "nm-t", check=False)


def test_daemon_restart_readopts_both(make_host):
    h = make_host()
    h.cli("network", "create", "rs-net")
    h.cli("run", "-d", "--name", "rs-main", "--network", "rs-net", *LOOPBACK_SERVER)
    h.cli("run", "-d", "--name", "rs-side", "--network", "container:rs-main",
          "busybox", "sleep", "3600")
    pids = {n: h.inspect(n)["State"]["Pid"] for n in ("rs-main", "rs-side")}
    before = addrs(h, "rs-side")
    h.restart()
    assert {n: h.inspect(n)["State"]["Pid"] for n in pids} == pids
    assert addrs(h, "rs-side") == before == addrs(h, "rs-main")
    assert loopback_reply(h, "rs-side") == "main-ok"
    side = h.inspect("rs-side")
    assert side["HostConfig"]["NetworkMode"] == "container:" + h.inspect("rs-main")["Id"]
    assert side["NetworkSettings"]["Networks"] == {}
    h.kill9()
    h.start()
    assert h.inspect("rs-side")["State"]["Running"] and loopback_reply(h, "rs-side") == "main-ok"
    h.cli("rm", "-f", "rs-side", "rs-main")
    h.cli("network", "rm", "rs-net")
