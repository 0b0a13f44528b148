"""docker-py's volume calls against boxnetd (client.volumes.create/get/list/prune,
Volume.remove, containers.run with volumes= and mounts=), a bind-backed local
volume (type=none, o=bind), and the volumes' UsageData, each checked from inside
a container."""

from __future__ import annotations

import os

import pytest

docker = pytest.importorskip("docker", reason="docker-py (pip install docker) is not installed")
pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def client(host):
    cl = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=90)
    yield cl
    cl.close()


def test_volumes_api(client):
    """create with driver_opts and labels, get, list with filters, remove, 404 after;
    /info lists the local volume driver."""
    assert client.info()["Plugins"]["Volume"] == ["local"]
    v = client.volumes.create("pyv", driver="local", labels={"app": "py"})
    assert v.name == "pyv" and v.attrs["Labels"] == {"app": "py"}
    assert v.attrs["Driver"] == "local" and v.attrs["Scope"] == "local"
    again = client.volumes.create("pyv")   # an existing name: the same volume back
    assert again.attrs["CreatedAt"] == v.attrs["CreatedAt"]
    assert client.volumes.get("pyv").attrs["Mountpoint"] == v.attrs["Mountpoint"]
    assert [x.name for x in client.volumes.list(filters={"label": "app=py"})] == ["pyv"]
    assert client.volumes.list(filters={"name": "no-such"}) == []
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.list(filters={"colour": "red"})
    assert e.value.status_code == 400
    v.remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("pyv")
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.create("bad/name")
    assert e.value.status_code == 400


def test_run_with_volumes_and_mounts(client):
    """containers.run: volumes= (a dict, as docker-py documents) and mounts=
    (docker.types.Mount of a volume and a tmpfs): data crosses containers."""
    client.containers.run("busybox", ["sh", "-c", "echo py-data > /d/f"],
                          volumes={"pyrun": {"bind": "/d", "mode": "rw"}}, remove=True)
    m = [docker.types.Mount("/v", "pyrun", type="volume", read_only=True),
         docker.types.Mount("/t", None, type="tmpfs", tmpfs_size=1 << 20)]
    out = client.containers.run("busybox", ["sh", "-c", "cat /v/f; df -k /t | tail -n 1; "
                                            "touch /v/g || echo ro"], mounts=m, remove=True)
    lines = out.decode().splitlines()
    assert lines[0] == "py-data" and lines[1].split()[1] == "1024" and lines[-1] == "ro", lines
    c = client.containers.create("busybox", ["true"], volumes=["pyrun:/d"])
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.get("pyrun").remove()
    assert e.value.status_code == 409
    c.remove(v=True)
    client.volumes.get("pyrun").remove()


def test_bind_volume_and_prune(client, tmp_path):
    """A local volume with type=none,o=bind,device=DIR shows DIR's files in the
    container; writes land in DIR; prune (all=true) removes the unused ones and
    reports them."""
    src = tmp_path / "dev"
    src.mkdir()
    (src / "seed").write_text("seeded\n")
    client.volumes.create("pybind", driver_opts={"type": "none", "o": "bind",
                                                  "device": str(src)})
    out = client.containers.run("busybox", ["sh", "-c", "cat /b/seed; echo w > /b/new"],
                                volumes=["pybind:/b"], remove=True)
    assert out == b"seeded\n"
    assert (src / "new").read_text() == "w\n"
    mp = client.volumes.get("pybind").attrs["Mountpoint"]
    assert not os.path.ismount(mp) and os.listdir(mp) == []   # unmounted after the run
    client.volumes.create("pyidle")
    res = client.volumes.prune(filters={"all": "true"})
    assert {"pybind", "pyidle"} <= set(res["VolumesDeleted"]), res
    assert (src / "seed").exists()   # the device's files are not the volume's to delete
