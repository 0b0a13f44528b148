"""One test per bad input: the API answers with Docker's status code and a
message a user can act on, and nothing changes in the API view, the host
netns links, its nftables ruleset or the store."""

from __future__ import annotations

import pytest

from integration.checks import unchanged
from integration.harness import run

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def h(host):
    """bad-net 10.220.0.0/24 with bad-c1 at .10; auto-net without a user subnet;
    bad-c2 on the default bridge."""
    host.cli("network", "create", "--subnet", "10.220.0.0/24", "bad-net")
    host.cli("network", "create", "auto-net")
    host.cli("run", "-d", "--name", "bad-c1", "--network", "bad-net", "--ip", "10.220.0.10",
             "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "bad-c2", "busybox", "sleep", "3600")
    return host


def refused(h, method, path, json=None, body=None, status=None):
    """Send a request that must fail; assert status and a message; return the message."""
    with unchanged(h):
        got, reply = h.api(method, path, json=json, body=body)
    assert got >= 400, f"{method} {path} accepted ({got}): {reply}"
    if status is not None:
        expected = status if isinstance(status, tuple) else (status,)
        assert got in expected, f"{method} {path}: {got} not in {expected}: {reply}"
    assert isinstance(reply, dict) and isinstance(reply.get("message"), str), reply
    assert reply["message"].strip(), "empty error message"
    return reply["message"]


def create_net(h, status, **fields):
    """POST /networks/create with Name defaulting to "x-net"."""
    return refused(h, "POST", "/networks/create", json={"Name": "x-net", **fields}, status=status)


def ipam(subnet, **extra):
    """An IPAM block with one config entry."""
    return {"Driver": "default", "Config": [{"Subnet": subnet, **extra}]}


@pytest.mark.parametrize("name", ["", "  ", "\t"])
def test_invalid_network_name(h, name):
    """Network names follow libnetwork's rule (not the container rule): only an
    empty or blank name is refused with 400."""
    msg = create_net(h, 400, Name=name)
    if name:
        assert "invalid name" in msg, msg
    else:
        assert "name" in msg.lower() and "required" in msg.lower(), msg


@pytest.mark.parametrize("name", ["-bad", "a", "bad name", ".dot"])
def test_network_names_docker_accepts(h, name):
    """Names the container rule refuses are network names for dockerd: created,
    found by name and removed."""
    from urllib.parse import quote
    h.api_ok("POST", "/networks/create", json={"Name": name})
    assert h.api_ok("GET", f"/networks/{quote(name)}")["Name"] == name
    h.api_ok("DELETE", f"/networks/{quote(name)}")


@pytest.mark.parametrize("name", ["-bad", "a", "bad name"])
def test_invalid_container_name(h, name):
    """Container names follow Docker's container rule ([a-zA-Z0-9][a-zA-Z0-9_.-]+): 400."""
    from urllib.parse import quote
    msg = refused(h, "POST", f"/containers/create?name={quote(name)}",
                  json={"Image": "busybox", "Cmd": ["true"]}, status=400)
    assert name in msg or "invalid" in msg.lower()


def test_duplicate_network_name(h):
    """A second network with a taken name: 409."""
    msg = create_net(h, 409, Name="bad-net")
    assert "bad-net" in msg and "exists" in msg


def test_unknown_driver(h):
    """An unknown driver: 404 (plugin not found), the driver named."""
    msg = create_net(h, 404, Driver="nosuchdriver")
    assert "nosuchdriver" in msg


@pytest.mark.parametrize("subnet", ["10.0.0.0/33", "300.1.2.0/24", "nonsense", "fd00::/129"])
def test_invalid_cidr(h, subnet):
    """A subnet that is not a CIDR: 400."""
    msg = create_net(h, 400, IPAM=ipam(subnet))
    assert subnet in msg or "invalid" in msg.lower()


def test_gateway_outside_subnet(h):
    """A gateway outside its subnet: 400, the gateway named."""
    msg = create_net(h, 400, IPAM=ipam("10.230.0.0/24", Gateway="10.231.0.1"))
    assert "10.231.0.1" in msg


def test_ip_range_outside_subnet(h):
    """An ip-range outside its subnet: 400, the range named."""
    msg = create_net(h, 400, IPAM=ipam("10.230.0.0/24", IPRange="10.232.0.0/25"))
    assert "10.232.0.0/25" in msg


@pytest.mark.parametrize("subnet", ["10.220.0.0/24", "10.220.0.0/16", "10.220.0.128/25"])
def test_overlapping_subnet(h, subnet):
    """A subnet overlapping another network's: 403 (pool overlaps)."""
    msg = create_net(h, 403, IPAM=ipam(subnet))
    assert "overlap" in msg.lower()


def connect(h, network, container, status, **ipam_cfg):
    """POST /networks/{network}/connect that must fail."""
    cfg = {"IPAMConfig": ipam_cfg} if ipam_cfg else {}
    return refused(h, "POST", f"/networks/{network}/connect",
                   json={"Container": container, "EndpointConfig": cfg}, status=status)


def test_static_ip_outside_subnet_on_connect(h):
    """--ip outside the subnet at connect: 400."""
    msg = connect(h, "bad-net", "bad-c2", 400, IPv4Address="10.99.99.5")
    assert "10.99.99.5" in msg


def test_static_ip_outside_subnet_on_create(h):
    """--ip outside the subnet at container create: 400, no container made."""
    msg = refused(h, "POST", "/containers/create?name=bad-c3", json={
        "Image": "busybox", "Cmd": ["sleep", "3600"], "HostConfig": {"NetworkMode": "bad-net"},
        "NetworkingConfig": {"EndpointsConfig": {"bad-net": {
            "IPAMConfig": {"IPv4Address": "10.99.99.5"}}}}}, status=400)
    assert "10.99.99.5" in msg


@pytest.mark.parametrize("addr", ["10.220.0.10", "10.220.0.1"])  # bad-c1's, the gateway
def test_static_ip_taken(h, addr):
    """--ip of an address in use (a peer's, the gateway): refused."""
    msg = connect(h, "bad-net", "bad-c2", None, IPv4Address=addr)
    assert "in use" in msg.lower() or addr in msg


def test_ip_without_user_subnet(h):
    """--ip on a network without a user-given subnet: 400, Docker's message."""
    subnet = h.network("auto-net")["IPAM"]["Config"][0]["Subnet"]
    addr = subnet.split("/")[0].rsplit(".", 1)[0] + ".77"   # inside the subnet
    msg = connect(h, "auto-net", "bad-c2", 400, IPv4Address=addr)
    assert "user configured subnets" in msg


def test_connect_twice(h):
    """Connecting a container to a network it is on: 403/409, both named."""
    msg = connect(h, "bad-net", "bad-c1", (403, 409))
    assert "bad-c1" in msg and "already" in msg


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_remove_predefined_network(h, name):
    """bridge, host and none cannot be removed: 403."""
    refused(h, "DELETE", f"/networks/{name}", status=403)


def test_remove_network_with_active_endpoints(h):
    """Removing a network in use: 403 naming the container."""
    msg = refused(h, "DELETE", "/networks/bad-net", status=403)
    assert "active endpoints" in msg and "bad-c1" in msg


def test_container_name_conflict(h):
    """A taken container name: 409."""
    msg = refused(h, "POST", "/containers/create?name=bad-c1",
                  json={"Image": "busybox", "Cmd": ["true"]}, status=409)
    assert "bad-c1" in msg


def test_unknown_image(h):
    """An unknown image: 404 with Docker's message."""
    msg = refused(h, "POST", "/containers/create?name=bad-c4",
                  json={"Image": "nope", "Cmd": ["true"]}, status=404)
    assert "No such image: nope:latest" in msg


@pytest.mark.parametrize("path,body", [
    ("/networks/create", "{not json"),
    ("/networks/create", '{"Name": 5}'),
    ("/networks/create", "[]"),
    ("/containers/create", "{"),
    ("/containers/create", '{"Image": "busybox", "Cmd": "not-a-list", "HostConfig": 3}'),
    ("/networks/bad-net/connect", "{oops"),
])
def test_malformed_json(h, path, body):
    """Bodies that are not JSON or have wrong types: 400."""
    refused(h, "POST", path, body=body, status=400)


@pytest.mark.parametrize("bridge", ["lo", "bxt-name-too-long-for-linux"])
def test_kernel_refusal_rolls_back(h, bridge):
    """The bridge name is an existing non-bridge device, or too long for the kernel:
    the create fails (at validation or in the kernel) and leaves nothing behind."""
    create_net(h, None, Options={"com.docker.network.bridge.name": bridge},
               IPAM=ipam("10.233.0.0/24"))


def test_kernel_refusal_of_the_veth_rolls_back_a_connect(h):
    """The container's netns already holds an `eth1` (squatted behind boxnet's back), so
    the kernel refuses the endpoint's veth: the connect fails and leaves no address, no
    endpoint row, no firewall element and no host veth; once the squatter is gone the
    same connect gets the network's first address, so nothing leaked."""
    h.cli("network", "create", "--subnet", "10.234.1.0/24", "rb-net")
    pid = h.inspect("bad-c1")["State"]["Pid"]
    ns = ["nsenter", f"--net=/proc/{pid}/ns/net"]
    run([*ns, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "squat1"])
    try:
        msg = refused(h, "POST", "/networks/rb-net/connect", json={"Container": "bad-c1"})
        assert "eth1" in msg or "exists" in msg, msg
    finally:
        run([*ns, "ip", "link", "del", "eth1"])
    h.cli("network", "connect", "rb-net", "bad-c1")
    assert h.ip_of("bad-c1", "rb-net") == "10.234.1.2"
    ok = h.exec("bad-c1", "ping", "-c1", "-W2", "10.234.1.1").returncode == 0
    assert ok, "the retried connect is not plumbed"
    h.cli("network", "disconnect", "rb-net", "bad-c1")
    h.cli("network", "rm", "rb-net")
