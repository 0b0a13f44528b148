"""docker pull against a real registry (Debian's docker-registry in a test
netns, plain HTTP, named by --insecure-registry): by tag and by digest, with
the docker CLI, docker-py and the raw API; the pulled image runs; layers are
verified blobs in the content store; a corrupted blob and an interrupted
pull leave nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import docker
import pytest

from integration import harness, imagetars
from integration.harness import UnixHTTPConnection
from integration.outside import Outside
from integration.registry import Registry

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(host, registry): boxnetd with --insecure-registry for a plain-HTTP registry
    seeded with team/da:v1 (two layers, whiteouts)."""
    h = harness.TestHost()
    try:
        o = Outside(h)
        reg = Registry(o)
        h.start("--insecure-registry", reg.addr, "--registry-mirror", reg.url)
        tar = tmp_path_factory.mktemp("seed") / "da.tar"
        imagetars.docker_archive(str(tar), "x/da:v1")
        reg.seed(f"docker-archive:{tar}", "team/da:v1")
        yield h, reg
    finally:
        assert not h.teardown()


def docker_cli(h, *args, check=True, timeout=120, input_text=None):
    """The docker CLI against the test daemon (its own config dir: logins stay in the test)."""
    env = {**os.environ, "DOCKER_HOST": h.host_uri, "DOCKER_CONFIG": str(h.dir / "dcfg")}
    r = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout,
                       env=env, input=input_text,
                       stdin=None if input_text is not None else subprocess.DEVNULL)
    if check and r.returncode:
        raise AssertionError(f"docker {args} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def stream(h, path, headers=None):
    """POST a streaming endpoint: (status, list of JSON messages or error body)."""
    conn = UnixHTTPConnection(str(h.sock), timeout=120)
    try:
        conn.request("POST", path, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read().decode()
    finally:
        conn.close()
    if resp.status != 200:
        return resp.status, json.loads(raw)
    return 200, [json.loads(line) for line in raw.splitlines() if line.strip()]


def blob_files(h):
    """The blob store's files."""
    d = h.data_root / "blobs" / "sha256"
    return sorted(os.listdir(d)) if d.exists() else []


def staging_left(h):
    """Staging dirs or temp blobs left in the data root."""
    return [n for n in os.listdir(h.data_root / "images") if n.startswith(".import-")] + \
        [n for n in blob_files(h) if n.startswith(".tmp-")]


def test_docker_pull_by_tag_and_run(world):
    """`docker pull` shows Docker's output; the image runs with its layers applied."""
    h, reg = world
    r = docker_cli(h, "pull", f"{reg.addr}/team/da:v1")
    digest, m = reg.manifest("team/da:v1")
    assert f"Digest: {digest}" in r.stdout, r.stdout
    assert f"Status: Downloaded newer image for {reg.addr}/team/da:v1" in r.stdout, r.stdout
    assert "Pull complete" in r.stdout
    out = docker_cli(h, "run", "--rm", f"{reg.addr}/team/da:v1", "sh", "-c",
                     "cat /hello.txt /keep.txt; ls /data/old; test -e /etc/gone.txt || echo gone")
    assert out.stdout.split() == ["hello", "from", "layer", "2", "kept", "from", "layer", "1",
                                  "c", "gone"], out.stdout
    info = h.api_ok("GET", f"/images/{reg.addr}/team/da:v1/json")
    assert info["Id"] == m["config"]["digest"]
    assert info["RepoDigests"] == [f"{reg.addr}/team/da@{digest}"]
    for layer in m["layers"]:
        assert layer["digest"][7:] in blob_files(h)
    again = docker_cli(h, "pull", f"{reg.addr}/team/da:v1")
    assert "Status: Image is up to date" in again.stdout, again.stdout


def test_progress_stream_shape(world):
    """The raw stream: per layer Pulling fs layer, Downloading with progressDetail,
    Verifying Checksum, Download complete, Extracting, Pull complete; Digest; Status."""
    h, reg = world
    h.api("DELETE", f"/images/{reg.addr}/team/da:v1?force=1")
    status, msgs = stream(h, f"/v1.50/images/create?fromImage={reg.addr}/team/da&tag=v1")
    assert status == 200, msgs
    _, m = reg.manifest("team/da:v1")
    for layer in m["layers"]:
        lid = layer["digest"][7:19]
        seq = [x["status"] for x in msgs if x.get("id") == lid]
        for want in ("Downloading", "Verifying Checksum", "Download complete", "Extracting",
                     "Pull complete"):
            assert want in seq, (lid, seq)
        dl = [x for x in msgs if x.get("id") == lid and x["status"] == "Downloading"]
        assert dl[-1]["progressDetail"] == {"current": layer["size"], "total": layer["size"]}
    assert msgs[-1]["status"].startswith("Status: Downloaded newer image for")
    assert msgs[-2]["status"].startswith("Digest: sha256:")


def test_pull_by_digest_with_dockerpy(world):
    """docker-py's images.pull by @sha256 digest; a digest that does not match is refused."""
    h, reg = world
    digest, m = reg.manifest("team/da:v1")
    client = docker.DockerClient(base_url=h.host_uri, timeout=120)
    img = client.images.pull(f"{reg.addr}/team/da@{digest}")
    assert img.id == m["config"]["digest"]
    bad = "sha256:" + "0" * 64
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag={bad}")
    assert status == 404, body


def test_unknown_and_invalid_references(world):
    """An unknown tag or repository is a 404 in Docker's words; a bad name a 400."""
    h, reg = world
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/team/da&tag=nope")
    assert status == 404 and "manifest unknown" in body["message"], body
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/nobody/here&tag=1")
    assert status == 404 and "nobody/here" in body["message"], body
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/Team/UPPER&tag=1")
    assert status == 400 and "invalid reference format" in body["message"], body
    r = docker_cli(h, "pull", f"{reg.addr}/team/da:nope", check=False)
    assert r.returncode == 1 and "manifest unknown" in r.stderr, r.stderr


def test_run_of_missing_image_pulls_first(world):
    """`docker run` of an image not stored here pulls it (the CLI's 404 path)."""
    h, reg = world
    h.api("DELETE", f"/images/{reg.addr}/team/da:v1?force=1")
    r = docker_cli(h, "run", "--rm", f"{reg.addr}/team/da:v1", "cat", "/hello.txt")
    assert "Unable to find image" in r.stderr and "hello from layer 2" in r.stdout, r


def test_docker_io_names_are_normalised_and_pulled_from_the_mirror(world, tmp_path):
    """`docker pull mirrored:1` means docker.io/library/mirrored:1: with
    --registry-mirror it comes from the mirror (docker.io itself is unreachable
    here) and is named as Docker names it."""
    h, reg = world
    imagetars.docker_archive(str(tmp_path / "m.tar"), "x/m:1")
    reg.seed(f"docker-archive:{tmp_path / 'm.tar'}", "library/mirrored:1")
    r = docker_cli(h, "pull", "mirrored:1")
    assert "Status: Downloaded newer image for mirrored:1" in r.stdout, r.stdout
    info = h.api_ok("GET", "/images/docker.io/library/mirrored:1/json")
    assert "mirrored:1" in info["RepoTags"] and any(
        d.startswith("mirrored@sha256:") for d in info["RepoDigests"]), info
    out = docker_cli(h, "run", "--rm", "mirrored:1", "cat", "/hello.txt")
    assert out.stdout == "hello from layer 2\n"


def test_corrupted_blob_is_rejected_and_nothing_kept(world, tmp_path):
    """A layer blob altered in the registry's storage: the pull fails with a
    verification error, no image, no blob, no staging dir."""
    h, reg = world
    tar = tmp_path / "c.tar"
    layer = b"corrupt me\n" * 1000
    imagetars.write_tar(str(tar), imagetars.docker_archive_files(
        [imagetars.tar_bytes([imagetars.member("file.txt", layer)])], "x/c:1"))
    reg.seed(f"docker-archive:{tar}", "team/corrupt:1")
    _, m = reg.manifest("team/corrupt:1")
    victim = reg.blob_path(m["layers"][0]["digest"])
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    before = blob_files(h)
    r = docker_cli(h, "pull", f"{reg.addr}/team/corrupt:1", check=False)
    assert r.returncode == 1 and "verification failed" in (r.stdout + r.stderr), r
    status, _ = h.api("GET", f"/images/{reg.addr}/team/corrupt:1/json")
    assert status == 404
    assert m["layers"][0]["digest"][7:] not in blob_files(h)
    assert set(blob_files(h)) - set(before) <= {m["config"]["digest"][7:]}
    assert not staging_left(h)


def test_pull_all_tags(world, tmp_path):
    """`docker pull --all-tags` (no tag sent): every tag of the repository."""
    h, reg = world
    imagetars.docker_archive(str(tmp_path / "t.tar"), "x/t:1")
    for t in ("a", "b"):
        reg.seed(f"docker-archive:{tmp_path / 't.tar'}", f"alltags/img:{t}")
    r = docker_cli(h, "pull", "--all-tags", f"{reg.addr}/alltags/img")
    assert r.returncode == 0, r
    for t in ("a", "b"):
        assert h.api("GET", f"/images/{reg.addr}/alltags/img:{t}/json")[0] == 200


def test_pull_is_an_image_event(world):
    """`docker events` reports `image pull NAME:TAG` as dockerd does."""
    import time
    h, reg = world
    since = int(time.time()) - 1
    h.api("DELETE", f"/images/{reg.addr}/team/da:v1?force=1")
    docker_cli(h, "pull", f"{reg.addr}/team/da:v1")
    r = docker_cli(h, "events", "--since", str(since), "--until", str(int(time.time()) + 1),
                   "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}}")
    assert f"pull {reg.addr}/team/da:v1" in r.stdout.splitlines(), r.stdout


def test_docker_info_lists_registry_settings(world):
    """`docker info` shows the insecure registries and mirrors boxnetd was given."""
    h, reg = world
    out = docker_cli(h, "info").stdout
    assert "Insecure Registries:" in out and reg.addr in out, out
    assert "Registry Mirrors:" in out and reg.url + "/" in out, out
