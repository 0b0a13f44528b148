"""docker-py 7.2 (the `docker` package) driving boxnetd: networks, containers,
exec and images, with reachability checked from inside the containers."""

from __future__ import annotations

import pytest

from integration import imagetars

docker = pytest.importorskip("docker", reason="docker-py (pip install docker) is not installed")
pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def client(host):
    """A DockerClient on the module's boxnetd socket (version negotiated via /version)."""
    cl = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
    yield cl
    cl.close()


def test_version_ping(client):
    """docker-py's first calls: unversioned /version, then _ping."""
    assert client.version()["ApiVersion"] == "1.52"
    assert client.ping() is True


def test_networks_api(client):
    """create with IPAM pools, get, list with filters, remove, prune."""
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet="10.71.0.0/24", gateway="10.71.0.1", iprange="10.71.0.128/25")])
    net = client.networks.create("py-net1", driver="bridge", ipam=ipam, labels={"k": "v"},
                                 attachable=True)
    assert net.attrs["IPAM"]["Config"][0]["Subnet"] == "10.71.0.0/24"
    got = client.networks.get("py-net1")
    assert got.id == net.id and got.attrs["Labels"] == {"k": "v"} and got.attrs["Attachable"]
    assert [n.name for n in client.networks.list(filters={"label": "k=v"})] == ["py-net1"]
    assert [n.name for n in client.networks.list(names=["py-net1"])] == ["py-net1"]
    client.networks.create("py-unused", labels={"prune": "yes"})
    pruned = client.networks.prune(filters={"label": "prune=yes"})
    assert pruned["NetworksDeleted"] == ["py-unused"]
    net.remove()
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("py-net1")


def test_containers_connect_exec(client):
    """create with networking_config (aliases, static IP), start, connect with
    aliases/links/ip, exec_run reachability, disconnect, wait, logs, remove."""
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.72.0.0/24")])
    a = client.networks.create("py-a", ipam=ipam)
    b = client.networks.create("py-b", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="10.73.0.0/24")]))
    api = client.api
    srv = api.create_container(
        "busybox", ["sleep", "600"], name="py-srv",
        host_config=api.create_host_config(network_mode="py-a"),
        networking_config=api.create_networking_config({
            "py-a": api.create_endpoint_config(aliases=["db"], ipv4_address="10.72.0.40")}))
    api.start(srv["Id"])
    cli = client.containers.run("busybox", ["sleep", "600"], name="py-cli", network="py-b",
                                detach=True)
    srv_obj = client.containers.get("py-srv")
    assert srv_obj.attrs["NetworkSettings"]["Networks"]["py-a"]["IPAddress"] == "10.72.0.40"
    code, _ = cli.exec_run(["ping", "-c1", "-W1", "10.72.0.40"])
    assert code != 0  # isolated: different networks
    a.connect(cli, aliases=["client"], links=[("py-srv", "srvlink")], ipv4_address="10.72.0.41")
    code, out = cli.exec_run(["ping", "-c1", "-W2", "db"])
    assert code == 0 and b"10.72.0.40" in out, out
    code, out = srv_obj.exec_run(["ping", "-c1", "-W2", "client"])
    assert code == 0 and b"10.72.0.41" in out, out
    a.disconnect(cli)
    code, _ = cli.exec_run(["ping", "-c1", "-W1", "10.72.0.40"])
    assert code != 0
    cli.remove(force=True)
    srv_obj.remove(force=True)
    a.remove()
    b.remove()


def test_run_wait_logs(client):
    """containers.run (foreground and detached), wait, logs, net=null ignored."""
    out = client.containers.run("busybox", ["echo", "hello py"], remove=True)
    assert out == b"hello py\n"
    body = {"Image": "busybox", "Cmd": ["sh", "-c", "echo o; echo e >&2; exit 2"],
            "NetworkingConfig": {"net": None}}
    res = client.api._post_json(client.api._url("/containers/create"), data=body,
                                params={"name": "py-wait"})
    assert res.status_code == 201, res.text
    c = client.containers.get("py-wait")
    c.start()
    assert c.wait()["StatusCode"] == 2
    assert c.logs(stdout=True, stderr=False) == b"o\n"
    assert c.logs(stdout=False, stderr=True) == b"e\n"
    c.remove()


def test_images(client, tmp_path):
    """images.list, get, load (docker-archive), tag, remove."""
    path = tmp_path / "img.tar"
    iid = imagetars.docker_archive(str(path), "py/loaded:v1")
    with open(path, "rb") as f:
        loaded = client.images.load(f.read())
    assert [i.id for i in loaded] == [iid]
    img = client.images.get("py/loaded:v1")
    assert img.id == iid and img.attrs["Config"]["WorkingDir"] == "/data"
    assert img.tag("py/retag", "x") is True
    assert "py/retag:x" in client.images.get(iid).tags
    assert any("busybox:latest" in i.tags for i in client.images.list())
    client.images.remove("py/retag:x")
    assert "py/retag:x" not in client.images.get(iid).tags
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("py/never:1")


def test_swarm_leave(client):
    """docker-py's teardown call gets dockerd's answer."""
    assert client.swarm.leave(force=True) is True  # docker-py accepts dockerd's 503
    res = client.api._post(client.api._url("/swarm/leave"))
    assert res.status_code == 503 and res.json()["message"] == "This node is not part of a swarm"
