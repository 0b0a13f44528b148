"""`docker save` against boxnetd: GET /images/{name}/get and /images/get?names=
stream a docker-archive that `docker load` reads back (round trips through
the real docker CLI and docker-py; the loaded image runs)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from integration import imagetars
from integration.harness import UnixHTTPConnection

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def members(data: bytes) -> dict[str, bytes]:
    """name -> content of every file in a tarball."""
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name: t.extractfile(m).read() for m in t if m.isfile()}


def get_raw(host, path: str) -> tuple[int, str, bytes]:
    """GET on the daemon socket: (status, Content-Type, body bytes)."""
    conn = UnixHTTPConnection(str(host.sock), timeout=120)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def loaded(host, tmp_path_factory):
    """save/da:v1, loaded from a two-layer docker-archive with whiteouts."""
    path = tmp_path_factory.mktemp("save") / "da.tar"
    imagetars.docker_archive(str(path), "save/da:v1")
    status, reply = host.api("POST", "/images/load", body=path.read_bytes())
    assert status == 200, reply
    return "save/da:v1"


def test_archive_shape(host, loaded):
    """manifest.json names the config and layer blobs by their digests; the
    config's diff_ids match the layer; the flattened layer keeps whiteout results."""
    import hashlib
    status, ctype, data = get_raw(host, f"/v1.50/images/{loaded}/get")
    assert status == 200 and ctype == "application/x-tar"
    files = members(data)
    manifest = json.loads(files["manifest.json"])
    assert [m["RepoTags"] for m in manifest] == [["save/da:v1"]]
    cfg_name, (layer_name,) = manifest[0]["Config"], manifest[0]["Layers"]
    assert cfg_name == "blobs/sha256/" + hashlib.sha256(files[cfg_name]).hexdigest()
    layer_hex = hashlib.sha256(files[layer_name]).hexdigest()
    assert layer_name == "blobs/sha256/" + layer_hex
    cfg = json.loads(files[cfg_name])
    assert cfg["rootfs"]["diff_ids"] == ["sha256:" + layer_hex] and cfg["os"] == "linux"
    assert cfg["config"]["WorkingDir"] == "/data"
    assert json.loads(files["repositories"]) == {"save/da": {"v1": cfg_name[13:]}}
    with tarfile.open(fileobj=io.BytesIO(files[layer_name])) as layer:
        names = set(layer.getnames())
    assert {"bin/busybox", "hello.txt", "data/old/c"} <= names
    assert "etc/gone.txt" not in names and "data/old/a" not in names


def test_unknown_image_is_404(host):
    """Saving an unknown image: 404 with Docker's message, before any tar byte."""
    status, reply = host.api("GET", "/images/get?names=busybox&names=nope:1")
    assert status == 404 and "No such image: nope:1" in reply["message"], reply


def test_host_image_is_refused(host):
    """boxnet/host is the host's "/" and is never archived."""
    status, reply = host.api("GET", "/images/boxnet/host/get")
    assert status == 400 and "boxnet/host" in reply["message"], reply


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason=f"the docker CLI is not installed ({DOCKER})")
def test_docker_cli_save_rmi_load_run(host, loaded, tmp_path):
    """docker save -o, rmi, load -i, run: the image comes back and runs."""
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path / "cfg"),
               DOCKER_CLI_HINTS="false")

    def docker(*args: str) -> str:
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"docker {' '.join(args)}: {r.stdout}{r.stderr}"
        return r.stdout.strip()

    out = tmp_path / "two.tar"
    docker("tag", "busybox", "save/bb:x")
    docker("save", "-o", str(out), loaded, "save/bb:x")
    docker("rmi", loaded, "save/bb:x")
    images = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert loaded not in images and "save/bb:x" not in images
    lines = set(docker("load", "-i", str(out)).splitlines())
    assert lines == {f"Loaded image: {loaded}", "Loaded image: save/bb:x"}, lines
    got = docker("run", "--rm", loaded, "sh", "-c",
                 "cat /hello.txt; pwd; test -e /etc/gone.txt || echo whited-out; echo $LOADED")
    assert got.split("\n") == ["hello from layer 2", "/data", "whited-out", "1"], got
    assert docker("run", "--rm", "save/bb:x", "echo", "bb-ok") == "bb-ok"
    # save piped to load (stdout): a second round trip through the same daemon
    saved = subprocess.run([DOCKER, "save", loaded], env=env, capture_output=True,
                           timeout=120, stdin=subprocess.DEVNULL).stdout
    r = subprocess.run([DOCKER, "load"], env=env, input=saved, capture_output=True, timeout=120)
    assert r.returncode == 0 and f"Loaded image: {loaded}" in r.stdout.decode(), r


def test_dockerpy_image_save_load(host, loaded):
    """docker-py: images.get(x).save() -> a tarball that images.load() reads back."""
    docker = pytest.importorskip("docker", reason="docker-py is not installed")
    client = docker.DockerClient(base_url=host.host_uri, version="auto", timeout=60)
    try:
        img = client.images.get(loaded)
        data = b"".join(img.save(named=True))
        assert json.loads(members(data)["manifest.json"])[0]["RepoTags"] == [loaded]
        by_id = b"".join(img.save())          # by id: no tag recorded, as Docker
        assert json.loads(members(by_id)["manifest.json"])[0]["RepoTags"] is None
        client.images.remove(loaded)
        (back,) = client.images.load(data)
        assert loaded in back.tags
        out = client.containers.run(loaded, ["cat", "/hello.txt"], remove=True)
        assert out == b"hello from layer 2\n"
    finally:
        client.close()
