"""boxnet as a Docker network and IPAM plugin (issue 19 part 1), with a real dockerd.

boxnetd runs with --docker-plugin in a TestHost's netns; a stock dockerd runs in the
same netns (tests/integration/dockerd.py) and finds the plugin's socket in its
/run/docker/plugins.  Everything is proven from inside Docker's containers.
"""

from __future__ import annotations

import json

import pytest

from . import dockerd as dk
from .harness import UnixHTTPConnection
from .procdocker import poll


@pytest.fixture(scope="module")
def plug(host):
    """(host, dockerd): boxnetd restarted with the plugin, dockerd beside it, busybox loaded."""
    why = dk.available()
    if why:
        pytest.skip(why)
    plugins = host.dir / "plugins"
    plugins.mkdir()
    host.stop()
    host.start("--docker-plugin", str(plugins / "boxnet.sock"))
    d = dk.Dockerd(host, plugins)
    try:
        d.start()
        d.load_busybox()
        yield host, d
    finally:
        d.stop()


def _run(d: dk.Dockerd, name: str, net: str, *extra: str) -> str:
    d.cli("run", "-d", "--name", name, "--network", net, *extra, "busybox",
          "busybox", "sleep", "3600")
    return d.cli("inspect", name).stdout


def _ip(d: dk.Dockerd, name: str, net: str) -> str:
    info = json.loads(d.cli("inspect", name).stdout)[0]
    return info["NetworkSettings"]["Networks"][net]["IPAddress"]


def _plugin_call(h, call: str, body: dict) -> tuple[int, dict]:
    """One call on the plugin socket, as dockerd makes it."""
    conn = UnixHTTPConnection(str(h.dir / "plugins" / "boxnet.sock"))
    try:
        conn.request("POST", "/" + call, body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def _spares(h, bridge: str) -> int:
    """How many spare pairs (``vbs<hex>``, down) wait on ``bridge`` in boxnetd's netns."""
    ports = h.sh(f"ip -o link show master {bridge}").stdout
    return len([ln for ln in ports.splitlines() if ": vbs" in ln and "state DOWN" in ln])


def _ping(d: dk.Dockerd, name: str, target: str) -> bool:
    r = d.cli("exec", name, "busybox", "ping", "-c", "1", "-W", "2", target, check=False)
    return r.returncode == 0


def test_network_create_run_ping_by_ip_and_name(plug):
    """`docker network create -d boxnet --ipam-driver boxnet`: boxnet made the bridge
    and the pool (boxnetd shows the network); containers reach each other by IP and
    by name (Docker's embedded DNS), their veth host ends on boxnet's bridge."""
    h, d = plug
    nid = d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet",
                "--subnet", "10.91.0.0/24", "pa").stdout.strip()
    try:
        nets = {n["Id"]: n for n in h.api_ok("GET", "/networks")}
        assert nid in nets, "boxnetd does not know Docker's network"
        bx = nets[nid]
        assert bx["Driver"] == "bridge" and bx["IPAM"]["Config"][0]["Subnet"] == "10.91.0.0/24"
        st, body = h.api("DELETE", f"/networks/{nid}")   # Docker's: boxnet's users keep off
        assert st == 403 and "docker network rm" in str(body), body
        h.api_ok("POST", "/networks/prune")
        assert nid in {n["Id"] for n in h.api_ok("GET", "/networks")}, "pruned Docker's network"
        br = "br-" + nid[:12]
        poll(lambda: _spares(h, br) == 1, "the network's spare veth pair (core/spares.py)")
        _run(d, "a1", "pa")
        _run(d, "a2", "pa")
        ip2 = _ip(d, "a2", "pa")
        assert ip2.startswith("10.91.0.")
        gw = json.loads(d.cli("network", "inspect", "pa").stdout)[0]["IPAM"]["Config"][0]
        assert gw["Subnet"] == "10.91.0.0/24"
        # inside a1: eth0 carries Docker's address, the default route is boxnet's gateway
        addr = d.cli("exec", "a1", "busybox", "ip", "-4", "addr", "show", "eth0").stdout
        assert _ip(d, "a1", "pa") + "/24" in addr
        route = d.cli("exec", "a1", "busybox", "ip", "route").stdout
        assert "default via 10.91.0.1 dev eth0" in route, route
        assert _ping(d, "a1", ip2)
        assert _ping(d, "a1", "a2"), "no answer by name (embedded DNS)"
        assert _ping(d, "a1", "10.91.0.1"), "the gateway (boxnet's bridge) does not answer"
        ports = h.sh(f"ip -o link show master {br}").stdout
        assert len([ln for ln in ports.splitlines() if ": veth" in ln]) == 2, ports
        poll(lambda: _spares(h, br) == 1, "the spare made again after the joins")
    finally:
        d.cli("rm", "-f", "a1", "a2", check=False)
        d.cli("network", "rm", "pa", check=False)
    assert nid not in {n["Id"] for n in h.api_ok("GET", "/networks")}
    assert "br-" + nid[:12] not in h.link_names()
    assert not [n for n in h.link_names() if n.startswith(("veth", "vbx", "vbs"))]


def test_isolation_from_a_second_plugin_network(plug):
    """Two boxnet plugin networks: boxnet's firewall keeps them apart (ping fails),
    each still reaches its own neighbour."""
    h, d = plug
    d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "ia")
    d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "ib")
    try:
        _run(d, "i1", "ia")
        _run(d, "i2", "ia")
        _run(d, "j1", "ib")
        sub_a = json.loads(d.cli("network", "inspect", "ia").stdout)[0]["IPAM"]["Config"][0]
        sub_b = json.loads(d.cli("network", "inspect", "ib").stdout)[0]["IPAM"]["Config"][0]
        assert sub_a["Subnet"] != sub_b["Subnet"]
        assert _ping(d, "i1", _ip(d, "i2", "ia"))
        assert not _ping(d, "i1", _ip(d, "j1", "ib")), "networks are not isolated"
        assert not _ping(d, "j1", _ip(d, "i1", "ia")), "networks are not isolated"
    finally:
        d.cli("rm", "-f", "i1", "i2", "j1", check=False)
        d.cli("network", "rm", "ia", "ib", check=False)


def test_bad_input_is_refused_and_leaves_nothing(plug):
    """An unknown driver option, an overlapping pool: dockerd shows the plugin's error
    and neither daemon keeps anything; an address outside the pool (which dockerd
    refuses before asking) and an overlapping pool asked of the socket directly: {Err}."""
    h, d = plug
    before = set(h.link_names())
    r = d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet",
              "-o", "com.example.bogus=1", "bad1", check=False)
    assert r.returncode != 0 and "com.example.bogus" in r.stderr, r.stderr
    d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet",
          "--subnet", "10.92.0.0/24", "ok1")
    try:
        r = d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet",
                  "--subnet", "10.92.0.0/25", "bad2", check=False)
        assert r.returncode != 0 and "overlap" in r.stderr.lower(), r.stderr
        r = d.cli("run", "-d", "--name", "bad3", "--network", "ok1", "--ip", "10.93.0.5",
                  "busybox", "busybox", "sleep", "60", check=False)
        assert r.returncode != 0, r.stdout
        d.cli("rm", "-f", "bad3", check=False)
        # dockerd refuses an --ip outside every pool itself; the plugin's own check:
        st, body = _plugin_call(h, "IpamDriver.RequestAddress",
                                {"PoolID": "10.92.0.0/24", "Address": "10.93.0.5"})
        assert st == 500 and "outside the pool" in body["Err"], body
        st, body = _plugin_call(h, "IpamDriver.RequestPool", {"Pool": "10.92.0.128/25"})
        assert st == 500 and "overlap" in body["Err"].lower(), body
        names = d.cli("network", "ls", "--format", "{{.Name}}").stdout.split()
        assert "bad1" not in names and "bad2" not in names
        bx = [n["Name"] for n in h.api_ok("GET", "/networks")]
        assert len([n for n in bx if n.startswith("docker-")]) == 1, bx
    finally:
        d.cli("network", "rm", "ok1", check=False)
    poll(lambda: set(h.link_names()) <= before, "the kernel to be as before")


def test_published_port_from_the_outside(plug, outside):
    """`docker run -p 8089:80` on a plugin network: boxnet's NAT takes a client in an
    outside namespace to the container's httpd; a second -p of the same host port is
    refused with Docker's words; the port is gone with the container."""
    h, d = plug
    out = outside(h)
    d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "pp")
    try:
        d.cli("run", "-d", "--name", "web", "--network", "pp", "-p", "8089:80", "busybox",
              "busybox", "httpd", "-f", "-p", "80", "-h", "/")
        url = f"http://{out.host_ip}:8089/hello.txt"

        def fetch():
            r = out.sh(f"curl -sf -m 2 {url}", check=False)
            return r.stdout if r.returncode == 0 else ""
        assert poll(fetch, "the published port", timeout=30) == "hello from layer 2\n"
        r = d.cli("run", "-d", "--name", "web2", "--network", "pp", "-p", "8089:80", "busybox",
                  "busybox", "sleep", "60", check=False)
        assert r.returncode != 0 and "already allocated" in r.stderr, r.stderr
        d.cli("rm", "-f", "web2", check=False)
        assert fetch() == "hello from layer 2\n", "the refused run broke the first binding"
        d.cli("rm", "-f", "web")
        assert "8089" not in h.nft_ruleset()
    finally:
        d.cli("rm", "-f", "web", "web2", check=False)
        d.cli("network", "rm", "pp", check=False)


def test_boxnetd_restart_keeps_dockers_endpoints(plug, outside):
    """boxnetd restarted under running Docker containers: their endpoints stay (not
    reaped as orphans), their anti-spoofing elements and published port come back,
    and Docker's later removals go through the plugin cleanly."""
    h, d = plug
    out = outside(h, host_addr="198.18.0.5/30", addr="198.18.0.6/30", host_ifname="bxo1")
    d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "rs")
    try:
        d.cli("run", "-d", "--name", "r1", "--network", "rs", "-p", "8090:80", "busybox",
              "busybox", "httpd", "-f", "-p", "80", "-h", "/")
        _run(d, "r2", "rs")
        veths = sorted(n for n in h.link_names() if n.startswith("veth"))
        assert len(veths) == 2
        br = "br-" + json.loads(d.cli("network", "inspect", "rs").stdout)[0]["Id"][:12]
        poll(lambda: _spares(h, br) == 1, "the network's spare")
        before = {n for n in h.link_names() if n.startswith("vbs")}
        h.restart()
        assert sorted(n for n in h.link_names() if n.startswith("veth")) == veths
        poll(lambda: _spares(h, br) == 1, "a new spare after the restart")
        assert not before & set(h.link_names()), "the stopped daemon's spare stayed"
        before = {n for n in h.link_names() if n.startswith("vbs")}
        h.kill9()   # a crash: its spare is found by name and mark (core/orphans.py)
        h.start(*h.daemon_args)
        poll(lambda: _spares(h, br) == 1, "a new spare after the crash")
        assert not before & set(h.link_names()), "the crashed daemon's spare stayed"
        rules = h.nft_ruleset()
        for v in veths:
            assert f'"{v}" . ' in rules, f"anti-spoofing elements of {v} not restored"
        assert _ping(d, "r2", "r1")
        url = f"http://{out.host_ip}:8090/hello.txt"
        r = poll(lambda: out.sh(f"curl -sf -m 2 {url}", check=False).stdout, "the port")
        assert r == "hello from layer 2\n"
        d.cli("rm", "-f", "r1", "r2")
        assert not [n for n in h.link_names() if n.startswith("veth")]
        assert "8090" not in h.nft_ruleset()
    finally:
        d.cli("rm", "-f", "r1", "r2", check=False)
        d.cli("network", "rm", "rs", check=False)
    assert not [n for n in h.api_ok("GET", "/networks") if n["Name"].startswith("docker-")]
    assert not [n for n in h.link_names() if n.startswith(("vbs", "vbx"))], "spares left"


def test_dockerd_restart_with_boxnetd_down_then_up(plug):
    """dockerd restarted while boxnetd is down: a `docker run` on the plugin network
    fails with the plugin's error and leaves no container endpoint in either daemon;
    once boxnetd is back, the same network works (Docker's state and boxnet's agree)."""
    h, d = plug
    nid = d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet",
                "--subnet", "10.94.0.0/24", "dr").stdout.strip()
    try:
        h.stop()
        d.stop()
        d.start()
        r = d.cli("run", "-d", "--name", "dr1", "--network", "dr", "busybox", "busybox",
                  "sleep", "3600", check=False, timeout=180)
        assert r.returncode != 0, r.stdout
        assert 'plugin "boxnet" not found' in r.stderr, r.stderr
        d.cli("rm", "-f", "dr1", check=False)
        h.start(*h.daemon_args)
        assert not [ep for ep in h.api_ok("GET", f"/networks/{nid}")["Containers"] or {}]
        _run(d, "dr1", "dr")
        _run(d, "dr2", "dr")
        assert _ip(d, "dr1", "dr").startswith("10.94.0.")
        assert _ping(d, "dr1", "dr2")
    finally:
        if not h.running():
            h.start(*h.daemon_args)
        d.cli("rm", "-f", "dr1", "dr2", check=False)
        d.cli("network", "rm", "dr", check=False)


def test_internal_and_icc_are_boxnets(plug):
    """`--internal`: boxnet's network is internal (no gateway handed to Docker: no
    default route in the container); `-o com.docker.network.bridge.enable_icc=false`:
    two containers of the network cannot reach each other, the gateway still answers."""
    h, d = plug
    nid = d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "--internal",
                "ni").stdout.strip()
    kid = d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet",
                "-o", "com.docker.network.bridge.enable_icc=false", "nk").stdout.strip()
    try:
        assert h.api_ok("GET", f"/networks/{nid}")["Internal"] is True
        _run(d, "n1", "ni")
        assert "default" not in d.cli("exec", "n1", "busybox", "ip", "route").stdout
        _run(d, "k1", "nk")
        _run(d, "k2", "nk")
        gw = h.api_ok("GET", f"/networks/{kid}")["IPAM"]["Config"][0]["Gateway"]
        assert _ping(d, "k1", gw)
        assert not _ping(d, "k1", _ip(d, "k2", "nk")), "ICC off, yet k1 reaches k2"
    finally:
        d.cli("rm", "-f", "n1", "k1", "k2", check=False)
        d.cli("network", "rm", "ni", "nk", check=False)


def test_dockerd_restart_under_running_containers(plug):
    """dockerd stopped with containers running on a plugin network (it leaves and
    deletes their endpoints through the plugin) and started again: boxnet keeps no
    endpoint, veth or address of them, and the network takes new containers."""
    h, d = plug
    nid = d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "--subnet",
                "10.95.0.0/24", "dq").stdout.strip()
    try:
        _run(d, "q1", "dq")
        _run(d, "q2", "dq")
        assert h.api_ok("GET", f"/networks/{nid}")["IPAM"]
        d.proc.terminate()
        d.proc.wait(60)
        poll(lambda: not [n for n in h.link_names() if n.startswith("veth")],
             "the endpoints' veths to go", timeout=60)
        d.start()
        d.cli("rm", "-f", "q1", "q2")
        _run(d, "q3", "dq")
        _run(d, "q4", "dq")
        assert _ip(d, "q3", "dq") == "10.95.0.2", "an address of a gone endpoint is still held"
        assert _ping(d, "q3", "q4")
    finally:
        d.cli("rm", "-f", "q1", "q2", "q3", "q4", check=False)
        d.cli("network", "rm", "dq", check=False)


def test_boxnet_driver_with_dockers_own_ipam(plug):
    """`-d boxnet` with Docker's default IPAM: the pool Docker chose is reserved in
    boxnet's IPAM (a boxnet network asking for it is refused as overlapping), and the
    containers reach each other."""
    h, d = plug
    nid = d.cli("network", "create", "-d", "boxnet", "--subnet", "10.96.0.0/24",
                "--label", "team=web", "dd").stdout.strip()   # labels are Docker's own
    try:
        assert h.api_ok("GET", f"/networks/{nid}")["IPAM"]["Config"][0]["Subnet"] == \
            "10.96.0.0/24"
        st, body = h.api("POST", "/networks/create",
                         json={"Name": "clash", "IPAM": {"Config": [{"Subnet": "10.96.0.0/25"}]}})
        assert st >= 400, body
        _run(d, "o1", "dd")
        _run(d, "o2", "dd")
        assert _ping(d, "o1", "o2")
    finally:
        d.cli("rm", "-f", "o1", "o2", check=False)
        d.cli("network", "rm", "dd", check=False)
    assert nid not in {n["Id"] for n in h.api_ok("GET", "/networks")}


def test_ipv6_dual_stack(plug):
    """`--ipv6` with a v4 and a v6 subnet from boxnet's IPAM: each container gets both
    families on eth0 and reaches its neighbour over IPv6."""
    h, d = plug
    d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "--ipv6",
          "--subnet", "10.97.0.0/24", "--subnet", "fd97:1::/64", "v6")
    try:
        _run(d, "s1", "v6")
        _run(d, "s2", "v6")
        info = json.loads(d.cli("inspect", "s2").stdout)[0]["NetworkSettings"]["Networks"]["v6"]
        ip6 = info["GlobalIPv6Address"]
        assert ip6.startswith("fd97:1::"), info
        addr = d.cli("exec", "s2", "busybox", "ip", "-6", "addr", "show", "eth0").stdout
        assert ip6 in addr, addr
        r = poll(lambda: d.cli("exec", "s1", "busybox", "ping", "-6", "-c", "1", "-W", "2",
                               ip6, check=False).returncode == 0, "ping over IPv6", timeout=20)
        assert r
    finally:
        d.cli("rm", "-f", "s1", "s2", check=False)
        d.cli("network", "rm", "v6", check=False)


def test_network_connect_and_disconnect(plug):
    """`docker network connect --alias` of a running container to a plugin network:
    a second interface with the network's address, reachable by the alias; after
    `disconnect` the interface and its veth are gone and the address is free again."""
    h, d = plug
    d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "--subnet",
          "10.98.0.0/24", "c1n")
    d.cli("network", "create", "-d", "boxnet", "--ipam-driver", "boxnet", "c2n")
    try:
        _run(d, "t1", "c1n")
        _run(d, "t2", "c2n")
        d.cli("network", "connect", "--alias", "tee", "c1n", "t2")
        ip = _ip(d, "t2", "c1n")
        assert ip.startswith("10.98.0.")
        assert ip in d.cli("exec", "t2", "busybox", "ip", "-4", "addr").stdout
        assert _ping(d, "t1", "tee")
        d.cli("network", "disconnect", "c1n", "t2")
        assert ip not in d.cli("exec", "t2", "busybox", "ip", "-4", "addr").stdout
        assert len([n for n in h.link_names() if n.startswith("veth")]) == 2
        assert not _ping(d, "t1", ip)
        _run(d, "t3", "c1n")
        assert _ip(d, "t3", "c1n") == ip, "the disconnected endpoint's address is still held"
    finally:
        d.cli("rm", "-f", "t1", "t2", "t3", check=False)
        d.cli("network", "rm", "c1n", "c2n", check=False)
