"""Issue 18 items 1, 2, 5: what a client puts in EndpointSettings is honoured
(seen from inside the container) and comes back in inspect as Docker shows
it; network names with spaces; the default gateway per address family."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse

import pytest

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
if not os.access(DOCKER, os.X_OK):
    pytest.skip(f"the docker CLI is not installed ({DOCKER})", allow_module_level=True)
dockerpy = pytest.importorskip("docker", reason="docker-py is not installed")

IFNAME = "com.docker.network.endpoint.ifname"
SYSCTLS = "com.docker.network.endpoint.sysctls"


@pytest.fixture(scope="module")
def docker(host, tmp_path_factory):
    """The docker CLI against the module's boxnetd: docker(*args) -> stdout."""
    env = dict(os.environ, DOCKER_HOST=host.host_uri,
               DOCKER_CONFIG=str(tmp_path_factory.mktemp("dockercfg")), DOCKER_CLI_HINTS="false")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                           timeout=90, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r
    return run


@pytest.fixture(scope="module")
def client(host):
    """docker-py against the module's boxnetd."""
    cl = dockerpy.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
    yield cl
    cl.close()


def sh(host, ctr: str, script: str) -> str:
    """stdout of `sh -c script` in a container (must succeed)."""
    r = host.exec(ctr, "sh", "-c", script)
    assert r.returncode == 0, f"{script}: {r.stdout}{r.stderr}"
    return r.stdout.strip()


def endpoint(host, ctr: str, net: str) -> dict:
    return host.inspect(ctr)["NetworkSettings"]["Networks"][net]


def poll(fn, what: str, deadline: float = 20.0):
    """fn() until truthy (its value returned) or the deadline (AssertionError)."""
    end = time.monotonic() + deadline
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_network_named_with_a_space_docker_cli(host, docker):
    """`test 01` works in create, inspect, connect, run and rm (Docker's network rule)."""
    docker("network", "create", "--subnet", "10.231.0.0/24", "test 01")
    got = json.loads(docker("network", "inspect", "test 01").stdout)[0]
    assert got["Name"] == "test 01" and got["IPAM"]["Config"][0]["Subnet"] == "10.231.0.0/24"
    docker("run", "-d", "--name", "sp1", "--network", "test 01", "busybox", "sleep", "600")
    docker("run", "-d", "--name", "sp2", "busybox", "sleep", "600")
    docker("network", "connect", "test 01", "sp2")
    ip2 = endpoint(host, "sp2", "test 01")["IPAddress"]
    assert ip2.startswith("10.231.0.")
    assert host.exec("sp1", "ping", "-c1", "-W3", ip2).returncode == 0
    # the embedded DNS answers on it (the name and the network-qualified name)
    poll(lambda: ip2 in host.exec("sp1", "nslookup", "sp2", "127.0.0.11").stdout,
         "sp2's name on 'test 01'")
    docker("network", "disconnect", "test 01", "sp2")
    docker("rm", "-f", "sp1", "sp2")
    docker("network", "rm", "test 01")
    assert docker("network", "inspect", "test 01", check=False).returncode != 0
    # the announcement options are checked as dockerd does
    status, body = host.api("POST", "/networks/create", json={
        "Name": "adv", "Options": {"com.docker.network.advertise_addr_ms": "99"}})
    assert status == 400 and "must be in the range 100 to 2000" in body["message"]
    # blank names stay refused, as dockerd's "invalid name"
    status, body = host.api("POST", "/networks/create", json={"Name": "  "})
    assert status == 400 and "invalid name" in body["message"]


def test_network_named_with_a_space_dockerpy(host, client):
    """The same through docker-py (its URLs quote the name)."""
    nw = client.networks.create("test 02", ipam=dockerpy.types.IPAMConfig(
        pool_configs=[dockerpy.types.IPAMPool(subnet="10.232.0.0/24")]))
    assert client.networks.get("test 02").name == "test 02"
    c = client.containers.run("busybox", "sleep 600", detach=True, name="sp3")
    nw.connect(c, aliases=["spaced"])
    nw.reload()
    assert [x.name for x in nw.containers] == ["sp3"]
    assert sh(host, "sp3", "ip -o -4 addr show eth1").count("10.232.0.") == 1
    nw.disconnect(c)
    c.remove(force=True)
    nw.remove()
    assert host.api("GET", "/networks/" + urllib.parse.quote("test 02"))[0] == 404


def test_endpoint_settings_inside_and_in_inspect(host, docker):
    """ifname, MAC, link-local address, per-interface sysctl, aliases, DNSNames and
    GwPriority from `docker run --network name=...,...`: in the container's
    interface and back in inspect as sent."""
    docker("network", "create", "--subnet", "10.233.0.0/24", "fid")
    opts = ("name=fid,alias=web,mac-address=02:42:0a:e9:00:33,link-local-ip=169.254.7.7,"
            "gw-priority=5,driver-opt=com.docker.network.endpoint.ifname=wan0,"
            "driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.forwarding=1")
    docker("run", "-d", "--name", "fid1", "--network", opts, "busybox", "sleep", "600")
    link = sh(host, "fid1", "ip -o link show wan0")
    assert "02:42:0a:e9:00:33" in link
    assert "169.254.7.7/16" in sh(host, "fid1", "ip -o -4 addr show dev wan0")
    assert "10.233.0." in sh(host, "fid1", "ip -o -4 addr show dev wan0")
    assert sh(host, "fid1", "cat /proc/sys/net/ipv4/conf/wan0/forwarding") == "1"
    # the netns default is untouched: the sysctl is the interface's only
    assert sh(host, "fid1", "cat /proc/sys/net/ipv4/conf/lo/forwarding") == "0"
    ep = endpoint(host, "fid1", "fid")
    cid = host.inspect("fid1")["Id"]
    assert ep["IPAMConfig"] == {"LinkLocalIPs": ["169.254.7.7"]}
    assert ep["MacAddress"] == "02:42:0a:e9:00:33"
    assert ep["Aliases"] == ["web"]
    assert ep["DNSNames"] == ["fid1", "web", cid[:12]]
    assert ep["GwPriority"] == 5
    # the docker CLI lowercases driver options (so dockerd takes `ifname` too)
    assert ep["DriverOpts"] == {IFNAME: "wan0",
                                SYSCTLS: "net.ipv4.conf.ifname.forwarding=1"}
    # without --mac-address a MAC is random (Docker 28), not 02:42 + the IPv4 address
    docker("run", "-d", "--name", "fid2", "--network", "fid", "busybox", "sleep", "600")
    docker("run", "-d", "--name", "fid3", "--network", "fid", "busybox", "sleep", "600")
    macs = [endpoint(host, n, "fid")["MacAddress"] for n in ("fid2", "fid3")]
    for n, mac in zip(("fid2", "fid3"), macs):
        assert mac in sh(host, n, "ip -o link show eth0")
        ip = endpoint(host, n, "fid")["IPAddress"]
        assert mac != "02:42:" + ":".join(f"{int(x):02x}" for x in ip.split("."))
        assert int(mac[:2], 16) & 3 == 2     # unicast, locally administered
    assert macs[0] != macs[1]
    docker("rm", "-f", "fid1", "fid2", "fid3")
    docker("network", "rm", "fid")


def test_inspect_round_trip_dockerpy(host, client):
    """EndpointSettings sent by docker-py's low-level create come back equal."""
    api = client.api
    api.create_network("rt", ipam=dockerpy.types.IPAMConfig(
        pool_configs=[dockerpy.types.IPAMPool(subnet="10.234.0.0/24")]))
    sent = {"IPAMConfig": {"IPv4Address": "10.234.0.40", "LinkLocalIPs": ["169.254.9.9"]},
            "Aliases": ["a1", "a2"], "Links": ["rt-other:db"], "MacAddress": "02:42:0a:ea:00:28",
            "DriverOpts": {IFNAME: "data0", SYSCTLS: "net.ipv4.conf.IFNAME.arp_announce=2"},
            "GwPriority": 7}
    ctr = api.create_container("busybox", "sleep 600", name="rt1",
                               host_config=api.create_host_config(network_mode="rt"),
                               networking_config={"EndpointsConfig": {"rt": sent}})
    api.start(ctr)
    ep = api.inspect_container(ctr)["NetworkSettings"]["Networks"]["rt"]
    for k, v in sent.items():
        assert ep[k] == v, (k, ep[k], v)
    assert ep["IPAddress"] == "10.234.0.40"
    assert ep["DNSNames"] == ["rt1", "a1", "a2", ctr["Id"][:12]]
    assert sh(host, "rt1", "cat /proc/sys/net/ipv4/conf/data0/arp_announce") == "2"
    assert "169.254.9.9/16" in sh(host, "rt1", "ip -o -4 addr show dev data0")
    api.remove_container(ctr, force=True)
    api.remove_network("rt")


def _connect(host, net: str, ctr: str, cfg: dict):
    return host.api("POST", f"/networks/{net}/connect",
                    json={"Container": ctr, "EndpointConfig": cfg})


def test_bad_endpoint_options_refused_nothing_changed(host, docker):
    """An ifname that clashes or is invalid, a sysctl outside net.ipv{4,6}.conf.IFNAME.*,
    a link-local address outside 169.254/16 or fe80::/10: 400, nothing changed."""
    docker("network", "create", "--subnet", "10.235.0.0/24", "bad1")
    docker("network", "create", "--subnet", "10.236.0.0/24", "bad2")
    docker("run", "-d", "--name", "bad-c", "--network", "bad1", "busybox", "sleep", "600")
    links_before = sh(host, "bad-c", "ip -o link | cut -d: -f2 | sort")
    for cfg, words in [
        ({"DriverOpts": {IFNAME: "eth0"}}, "already used"),
        ({"DriverOpts": {IFNAME: "lo"}}, "already used"),
        ({"DriverOpts": {IFNAME: "way-too-long-name0"}}, "invalid interface name"),
        ({"DriverOpts": {IFNAME: "a/b"}}, "invalid interface name"),
        ({"DriverOpts": {SYSCTLS: "net.ipv4.ip_forward=1"}}, "unrecognised network interface"),
        ({"DriverOpts": {SYSCTLS: "net.ipv4.conf.eth0.forwarding=1"}}, "IFNAME"),
        ({"DriverOpts": {SYSCTLS: "kernel.domainname=x"}}, "unrecognised"),
        ({"DriverOpts": {"com.example.colour": "red"}}, "'com.example.colour' is not supported"),
        ({"IPAMConfig": {"LinkLocalIPs": ["10.1.1.1"]}}, "link-local"),
        ({"IPAMConfig": {"LinkLocalIPs": ["fd00::1"]}}, "link-local"),
    ]:
        status, body = _connect(host, "bad2", "bad-c", cfg)
        assert status == 400 and words in body["message"], (cfg, status, body)
    # well-formed, but a key the kernel does not have: found at the join, rolled back
    status, body = _connect(host, "bad2", "bad-c",
                            {"DriverOpts": {SYSCTLS: "net.ipv4.conf.IFNAME.no_such_key=1"}})
    assert status == 400 and "no_such_key" in body["message"], body
    assert list(host.inspect("bad-c")["NetworkSettings"]["Networks"]) == ["bad1"]
    assert sh(host, "bad-c", "ip -o link | cut -d: -f2 | sort") == links_before
    assert host.network("bad2")["Containers"] == {}
    # its address went back: only network, broadcast and gateway in use
    assert host.network("bad2")["Status"]["IPAM"]["Subnets"]["10.236.0.0/24"] == {
        "IPsInUse": 3, "DynamicIPsAvailable": 253}
    # the Status block is API 1.52's: an older client does not see it
    assert "Status" in host.api_ok("GET", "/v1.52/networks/bad2")
    assert "Status" not in host.api_ok("GET", "/v1.50/networks/bad2")
    # at create too: two endpoints asking for one name
    status, body = host.api("POST", "/containers/create?name=bad-d", json={
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "bad1"},
        "NetworkingConfig": {"EndpointsConfig": {
            "bad1": {"DriverOpts": {IFNAME: "x0"}}, "bad2": {"DriverOpts": {IFNAME: "x0"}}}}})
    assert status == 400 and "already used" in body["message"], body
    assert host.api("GET", "/containers/bad-d/json")[0] == 404
    # a free name is taken as asked
    status, body = _connect(host, "bad2", "bad-c", {"DriverOpts": {IFNAME: "eth7"}})
    assert status == 200, body
    assert "10.236.0." in sh(host, "bad-c", "ip -o -4 addr show dev eth7")
    docker("rm", "-f", "bad-c")
    docker("network", "rm", "bad1", "bad2")


def _neigh_mac(host, ctr: str, ip: str) -> str:
    out = host.exec(ctr, "ip", "neigh", "show", ip).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else ""


@pytest.mark.parametrize("nmsgs", ["", "0"])
def test_reused_address_announced_to_neighbours(host, docker, nmsgs):
    """Docker 28: the container announces its address when its endpoint comes up
    (gratuitous ARP), so a neighbour that knew the address under the previous
    holder's MAC learns the new one at once, without sending it anything; the
    network option com.docker.network.advertise_addr_nmsgs=0 turns it off."""
    opt = ["-o", f"com.docker.network.advertise_addr_nmsgs={nmsgs}"] if nmsgs else []
    docker("network", "create", "--subnet", "10.237.0.0/24", *opt, "garp")
    docker("run", "-d", "--name", "nb", "--network", "garp", "busybox", "sleep", "600")
    docker("run", "-d", "--name", "old", "--network", "garp", "--ip", "10.237.0.50",
           "--mac-address", "02:42:0a:ed:00:01", "busybox", "sleep", "600")
    assert host.exec("nb", "ping", "-c1", "-W3", "10.237.0.50").returncode == 0
    assert _neigh_mac(host, "nb", "10.237.0.50") == "02:42:0a:ed:00:01"
    docker("rm", "-f", "old")
    time.sleep(1.1)   # past the neighbour's ARP locktime (1 s), so an update may override
    docker("run", "-d", "--name", "new", "--network", "garp", "--ip", "10.237.0.50",
           "--mac-address", "02:42:0a:ed:00:02", "busybox", "sleep", "600")
    if nmsgs == "0":
        time.sleep(3)   # no announcement: the stale entry stays (a negative check waits)
        assert _neigh_mac(host, "nb", "10.237.0.50") == "02:42:0a:ed:00:01"
    else:
        poll(lambda: _neigh_mac(host, "nb", "10.237.0.50") == "02:42:0a:ed:00:02",
             "the neighbour to learn the new MAC of 10.237.0.50", deadline=10)
    docker("rm", "-f", "nb", "new")
    docker("network", "rm", "garp")


def _default_via(host, ctr: str, v6: bool) -> str:
    out = sh(host, ctr, f"ip {'-6 ' if v6 else ''}route show default")
    return out.split()[2] if out.startswith("default via") else ""


def test_default_gateway_per_family(host, docker):
    """GwPriority first, then the network name that sorts first, per address family:
    a higher-priority IPv4-only network takes the IPv4 default route while the
    dual-stack one keeps IPv6's (Docker 29.4)."""
    docker("network", "create", "--subnet", "10.238.0.0/24", "gw-b")
    docker("network", "create", "--subnet", "10.239.0.0/24", "gw-a")
    docker("network", "create", "--ipv6", "--subnet", "10.240.0.0/24",
           "--subnet", "fd00:18a::/64", "gw-ds")
    docker("run", "-d", "--name", "gw1", "--network", "gw-b", "busybox", "sleep", "600")
    assert _default_via(host, "gw1", False) == "10.238.0.1"
    docker("network", "connect", "gw-a", "gw1")          # same priority: gw-a sorts first
    poll(lambda: _default_via(host, "gw1", False) == "10.239.0.1", "gw-a's default route")
    docker("network", "connect", "gw-ds", "gw1")         # dual-stack, priority 0
    assert _default_via(host, "gw1", False) == "10.239.0.1"
    assert _default_via(host, "gw1", True) == "fd00:18a::1"
    docker("network", "disconnect", "gw-a", "gw1")
    docker("network", "connect", "--gw-priority", "10", "gw-a", "gw1")
    # per family: the IPv4-only gw-a (10) has IPv4, the dual-stack gw-ds (0) keeps IPv6
    poll(lambda: _default_via(host, "gw1", False) == "10.239.0.1", "gw-a's IPv4 route")
    assert _default_via(host, "gw1", True) == "fd00:18a::1"
    docker("network", "disconnect", "gw-ds", "gw1")
    docker("network", "connect", "--gw-priority", "20", "gw-ds", "gw1")
    poll(lambda: _default_via(host, "gw1", False) == "10.240.0.1", "gw-ds's IPv4 route")
    assert _default_via(host, "gw1", True) == "fd00:18a::1"
    nets = host.inspect("gw1")["NetworkSettings"]["Networks"]
    assert (nets["gw-a"]["GwPriority"], nets["gw-ds"]["GwPriority"]) == (10, 20)
    assert nets["gw-ds"]["IPv6Gateway"] == "fd00:18a::1"
    docker("network", "disconnect", "gw-ds", "gw1")       # back to the highest left: gw-a
    poll(lambda: _default_via(host, "gw1", False) == "10.239.0.1", "gw-a's route again")
    assert _default_via(host, "gw1", True) == ""
    docker("rm", "-f", "gw1")
    docker("network", "rm", "gw-a", "gw-b", "gw-ds")


def test_connect_mac_and_link_local_traffic_dockerpy(host, client):
    """docker-py's connect with mac_address and link_local_ips: the MAC and both
    link-local addresses on the new interface, and a neighbour reaches the IPv4
    one through the bridge (the port's anti-spoofing knows it)."""
    api = client.api
    api.create_network("llnet", ipam=dockerpy.types.IPAMConfig(
        pool_configs=[dockerpy.types.IPAMPool(subnet="10.241.0.0/24")]))
    c1 = client.containers.run("busybox", "sleep 600", detach=True, name="ll1")
    c2 = client.containers.run("busybox", "sleep 600", detach=True, name="ll2")
    api.connect_container_to_network(c1.id, "llnet", mac_address="02:42:0a:f1:00:01",
                                     link_local_ips=["169.254.20.1", "fe80::20:1"])
    api.connect_container_to_network(c2.id, "llnet", link_local_ips=["169.254.20.2"])
    assert "02:42:0a:f1:00:01" in sh(host, "ll1", "ip -o link show eth1")
    assert "fe80::20:1/64" in sh(host, "ll1", "ip -o -6 addr show dev eth1")
    assert host.exec("ll2", "ping", "-c1", "-W3", "-I", "169.254.20.2",
                     "169.254.20.1").returncode == 0
    ep = endpoint(host, "ll1", "llnet")
    assert ep["IPAMConfig"] == {"LinkLocalIPs": ["169.254.20.1", "fe80::20:1"]}
    assert ep["MacAddress"] == "02:42:0a:f1:00:01"
    status, body = _connect(host, "llnet", "ll2", {"MacAddress": "03:00:00:00:00:01"})
    assert status == 400 and "MacAddress" in body["message"]
    for c in (c1, c2):
        c.remove(force=True)
    api.remove_network("llnet")


def test_reused_ipv6_address_announced_to_neighbours(host, docker):
    """The IPv6 side: an unsolicited neighbour advertisement updates the
    neighbour's entry for a reused IPv6 address at once."""
    docker("network", "create", "--ipv6", "--subnet", "10.242.0.0/24",
           "--subnet", "fd00:18a:1::/64", "na6")
    docker("run", "-d", "--name", "nb6", "--network", "na6", "busybox", "sleep", "600")
    docker("run", "-d", "--name", "old6", "--network", "na6", "--ip6", "fd00:18a:1::50",
           "--mac-address", "02:42:0a:f2:00:01", "busybox", "sleep", "600")
    poll(lambda: host.exec("nb6", "ping", "-6", "-c1", "-W2", "fd00:18a:1::50").returncode == 0,
         "nb6's ping to old6")
    assert _neigh_mac(host, "nb6", "fd00:18a:1::50") == "02:42:0a:f2:00:01"
    docker("rm", "-f", "old6")
    time.sleep(1.1)
    docker("run", "-d", "--name", "new6", "--network", "na6", "--ip6", "fd00:18a:1::50",
           "--mac-address", "02:42:0a:f2:00:02", "busybox", "sleep", "600")
    poll(lambda: _neigh_mac(host, "nb6", "fd00:18a:1::50") == "02:42:0a:f2:00:02",
         "the neighbour to learn the new MAC of fd00:18a:1::50", deadline=10)
    docker("rm", "-f", "nb6", "new6")
    docker("network", "rm", "na6")


def test_compose_interface_name(host, tmp_path):
    """`boxnet compose`: a service network's interface_name names the interface
    in the container (as compose v2 sends it: the endpoint's ifname option)."""
    f = tmp_path / "compose.yaml"
    f.write_text("name: ifn\nservices:\n  a:\n    image: busybox\n    command: sleep 600\n"
                 "    networks:\n      front: {interface_name: front0}\n      back: {}\n"
                 "networks: {front: {}, back: {}}\n")
    host.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        ctr = "ifn-a-1"
        names = sh(host, ctr, "ls /sys/class/net | sort").split()
        assert "front0" in names and "eth0" in names, names
        assert endpoint(host, ctr, "ifn_front")["DriverOpts"] == {IFNAME: "front0"}
    finally:
        host.cli("compose", "-f", str(f), "down", timeout=120)


def test_replumbed_endpoint_keeps_its_options(make_host):
    """An interface lost while boxnetd was down is plumbed again at its start with
    its name, link-local address and sysctl (core/reconcile.py)."""
    h = make_host()
    h.api_ok("POST", "/networks/create", json={
        "Name": "rp", "IPAM": {"Config": [{"Subnet": "10.243.0.0/24"}]}})
    h.api_ok("POST", "/containers/create?name=rp1", json={
        "Image": "busybox", "Cmd": ["sleep", "600"], "HostConfig": {"NetworkMode": "rp"},
        "NetworkingConfig": {"EndpointsConfig": {"rp": {
            "IPAMConfig": {"LinkLocalIPs": ["169.254.30.1"]},
            "DriverOpts": {IFNAME: "lan0", SYSCTLS: "net.ipv4.conf.IFNAME.arp_ignore=1"}}}}})
    h.api_ok("POST", "/containers/rp1/start")
    netns = h.inspect("rp1")["State"]["Pid"]
    h.stop()
    subprocess.run(["nsenter", f"--net=/proc/{netns}/ns/net", "ip", "link", "del", "lan0"],
                   check=True, timeout=30)
    h.start(*h.daemon_args)
    assert "169.254.30.1/16" in sh(h, "rp1", "ip -o -4 addr show dev lan0")
    assert sh(h, "rp1", "cat /proc/sys/net/ipv4/conf/lan0/arp_ignore") == "1"
    h.api_ok("DELETE", "/containers/rp1?force=1")


def test_announcements_do_not_keep_a_removed_container_s_veth(host, docker):
    """The announcements (here 3, 2 s apart) hold no socket between rounds: a
    container removed at once leaves no veth behind in the host for their
    duration (a socket would pin its netns and the pair in it)."""
    docker("network", "create", "--subnet", "10.244.0.0/24",
           "-o", "com.docker.network.advertise_addr_ms=2000", "annrm")
    docker("run", "-d", "--name", "annrm1", "--network", "annrm", "busybox", "sleep", "600")
    veth = "veth" + endpoint(host, "annrm1", "annrm")["EndpointID"][:11]
    assert veth in host.link_names()
    docker("rm", "-f", "annrm1")
    poll(lambda: veth not in host.link_names(), f"{veth} to go", deadline=2.5)
    docker("network", "rm", "annrm")


def test_network_named_with_a_space_boxnet_cli(host):
    """boxnet's own CLI quotes the name in its URLs too."""
    host.cli("network", "create", "test 03")
    assert json.loads(host.cli("network", "inspect", "test 03").stdout)[0]["Name"] == "test 03"
    host.cli("run", "-d", "--name", "sp4", "busybox", "sleep", "600")
    host.cli("network", "connect", "test 03", "sp4")
    assert "test 03" in host.inspect("sp4")["NetworkSettings"]["Networks"]
    host.cli("network", "disconnect", "test 03", "sp4")
    host.cli("rm", "-f", "sp4")
    host.cli("network", "rm", "test 03")
    assert host.cli("network", "inspect", "test 03", check=False).returncode != 0


def test_compose_network_named_with_a_space(host, tmp_path):
    """`boxnet compose` with a network whose engine name holds a space."""
    f = tmp_path / "compose.yaml"
    f.write_text("name: sp\nservices:\n  a:\n    image: busybox\n    command: sleep 600\n"
                 "    networks: [n]\nnetworks:\n  n: {name: \"test 04\"}\n")
    host.cli("compose", "-f", str(f), "up", "-d", timeout=120)
    try:
        assert "test 04" in host.inspect("sp-a-1")["NetworkSettings"]["Networks"]
        host.cli("compose", "-f", str(f), "up", "-d", timeout=120)   # found again, unchanged
    finally:
        host.cli("compose", "-f", str(f), "down", timeout=120)
    assert host.api("GET", "/networks/" + urllib.parse.quote("test 04"))[0] == 404


def test_per_endpoint_mac_and_ifname_at_create(host):
    """Two endpoints at create (API 1.44+), each with its own MAC and name."""
    for n, sub in (("pe1", "10.245.0.0/24"), ("pe2", "10.246.0.0/24")):
        host.api_ok("POST", "/networks/create", json={"Name": n, "IPAM": {"Config": [
            {"Subnet": sub}]}})
    host.api_ok("POST", "/v1.44/containers/create?name=pe", json={
        "Image": "busybox", "Cmd": ["sleep", "600"], "HostConfig": {"NetworkMode": "pe1"},
        "NetworkingConfig": {"EndpointsConfig": {
            "pe1": {"MacAddress": "02:42:0a:f5:00:01", "DriverOpts": {IFNAME: "one"}},
            "pe2": {"MacAddress": "02:42:0a:f6:00:01", "DriverOpts": {IFNAME: "two"}}}}})
    host.api_ok("POST", "/containers/pe/start")
    assert "02:42:0a:f5:00:01" in sh(host, "pe", "ip -o link show one")
    assert "02:42:0a:f6:00:01" in sh(host, "pe", "ip -o link show two")
    nets = host.inspect("pe")["NetworkSettings"]["Networks"]
    assert (nets["pe1"]["MacAddress"], nets["pe2"]["MacAddress"]) == (
        "02:42:0a:f5:00:01", "02:42:0a:f6:00:01")
    host.api_ok("DELETE", "/containers/pe?force=1")
    for n in ("pe1", "pe2"):
        host.api_ok("DELETE", f"/networks/{n}")


CAPTURE = r"""
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.settimeout(0.2)
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    kind = struct.unpack("!H", f[12:14])[0]
    if f[6:12] != mac:
        continue
    if kind == 0x0806 and f[20:22] == b"\0\1" and f[28:32] == f[38:42]:
        print("arp", socket.inet_ntoa(f[28:32]), round(time.monotonic(), 3), flush=True)
    elif kind == 0x86DD and f[20] == 58 and f[54] == 136:
        print("na", socket.inet_ntop(socket.AF_INET6, f[62:78]), round(time.monotonic(), 3),
              flush=True)
"""


def test_announcements_on_the_wire(host, docker):
    """What a neighbour's capture on the bridge sees: 3 gratuitous ARPs and 3
    unsolicited NAs for the new endpoint's addresses, about 1 s apart (dockerd's
    defaults)."""
    docker("network", "create", "--ipv6", "--subnet", "10.247.0.0/24",
           "--subnet", "fd00:18a:2::/64", "wire")
    br = "br-" + host.network("wire")["Id"][:12]
    mac = "02:42:0a:f7:00:09"
    cap = subprocess.Popen(["nsenter", f"--net={host.netns}", "python3", "-c", CAPTURE, br, mac,
                            "6"], stdout=subprocess.PIPE, text=True)
    try:
        assert cap.stdout.readline().strip() == "ready"
        docker("run", "-d", "--name", "wire1", "--network", "wire", "--ip", "10.247.0.9",
               "--ip6", "fd00:18a:2::9", "--mac-address", mac, "busybox", "sleep", "600")
        out, _ = cap.communicate(timeout=30)
    finally:
        if cap.poll() is None:
            cap.kill()
            cap.wait()
    seen = [line.split() for line in out.splitlines()]
    arps = [float(t) for kind, ip, t in seen if kind == "arp" and ip == "10.247.0.9"]
    nas = [float(t) for kind, ip, t in seen if kind == "na" and ip == "fd00:18a:2::9"]
    assert len(arps) == 3 and len(nas) == 3, out
    for times in (arps, nas):
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(0.8 < g < 1.6 for g in gaps), (gaps, out)
    docker("rm", "-f", "wire1")
    docker("network", "rm", "wire")
