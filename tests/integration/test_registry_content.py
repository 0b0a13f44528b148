"""Pulled content against a real registry: multi-platform index selection,
layers shared between images stored once (and freed by rm only when no
image uses them), zstd layers, concurrent pulls downloading a blob once, an
interrupted transfer and a blob that lies about its size leaving nothing."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from integration import harness, registryimages as ri
from integration.outside import Outside
from integration.registry import Registry
from integration.test_registry_pull import blob_files, docker_cli, staging_left, stream

pytestmark = pytest.mark.kernel
PROXY = Path(__file__).with_name("cutproxy.py")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(host, registry, layout dir): plain-HTTP registry, insecure by CIDR."""
    h = harness.TestHost()
    try:
        o = Outside(h)
        reg = Registry(o)
        h.start("--insecure-registry", "198.18.0.0/15")
        yield h, reg, tmp_path_factory.mktemp("layouts")
    finally:
        assert not h.teardown()


def pull(h, ref, tag, **q):
    """Pull through the API; the message list (asserting a 200)."""
    extra = "".join(f"&{k}={v}" for k, v in q.items())
    status, msgs = stream(h, f"/images/create?fromImage={ref}&tag={tag}{extra}")
    assert status == 200, msgs
    return msgs


def test_index_platform_selection(world):
    """An index of linux/amd64 and linux/arm64: the host's platform by default,
    ?platform= picks the other, a platform not in the index is a 404."""
    h, reg, d = world
    lay = ri.Layout(d / "multi")
    base = ri.base_layer()
    amd = lay.image([base, ri.files_layer({"platform.txt": b"amd64\n"})], arch="amd64")
    arm = lay.image([base, ri.files_layer({"platform.txt": b"arm64\n"})], arch="arm64")
    lay.tag("1", lay.index([amd, arm]))
    reg.seed(f"oci:{lay.path}:1", "multi/img:1", all_images=True)
    index_digest, index = reg.manifest("multi/img:1")
    assert index["mediaType"] == ri.OCI_INDEX
    msgs = pull(h, f"{reg.addr}/multi/img", "1")
    assert msgs[-2]["status"] == f"Digest: {index_digest}"
    out = docker_cli(h, "run", "--rm", f"{reg.addr}/multi/img:1", "cat", "/platform.txt")
    assert out.stdout == "amd64\n"
    pull(h, f"{reg.addr}/multi/img", "1", platform="linux/arm64")
    out = docker_cli(h, "run", "--rm", f"{reg.addr}/multi/img:1", "cat", "/platform.txt")
    assert out.stdout == "arm64\n"
    assert h.api_ok("GET", f"/images/{reg.addr}/multi/img:1/json")["Architecture"] == "arm64"
    status, body = stream(h, f"/images/create?fromImage={reg.addr}/multi/img&tag=1"
                             f"&platform=linux/s390x")
    assert status == 404 and "no matching manifest for linux/s390x" in body["message"], body


def test_shared_layers_are_stored_once_and_freed_by_the_last_rm(world):
    """Two images sharing their first three layers: the second pull downloads only
    its own layer; rm of one keeps the shared blobs; rm of both frees them all."""
    h, reg, d = world
    lay = ri.Layout(d / "shared")
    first, base = ri.files_layer({"first.txt": b"only these two\n"}), ri.base_layer()
    common = ri.files_layer({"common.txt": b"shared\n"})
    a = lay.image([first, base, common, ri.files_layer({"own.txt": b"a\n"})])
    b = lay.image([first, base, common, ri.files_layer({"own.txt": b"b\n"})])
    lay.tag("a", a)
    lay.tag("b", b)
    reg.seed(f"oci:{lay.path}:a", "shared/img:a")
    reg.seed(f"oci:{lay.path}:b", "shared/img:b")
    _, ma = reg.manifest("shared/img:a")
    _, mb = reg.manifest("shared/img:b")
    la, lb = [x["digest"] for x in ma["layers"]], [x["digest"] for x in mb["layers"]]
    assert la[:3] == lb[:3] and la[3] != lb[3]
    pull(h, f"{reg.addr}/shared/img", "a")
    msgs = pull(h, f"{reg.addr}/shared/img", "b")
    exists = {x["id"] for x in msgs if x.get("status") == "Already exists"}
    downloaded = {x["id"] for x in msgs if x.get("status") == "Download complete"}
    assert {x[7:19] for x in lb[:3]} <= exists and downloaded == {lb[3][7:19]}, msgs
    extracted = {x["id"] for x in msgs if x.get("status") == "Extracting"}
    assert extracted == {lb[3][7:19]}, msgs        # the shared layers are unpacked once
    stored = blob_files(h)
    assert all(stored.count(x[7:]) == 1 for x in set(la + lb))
    out = docker_cli(h, "run", "--rm", f"{reg.addr}/shared/img:b", "cat", "/common.txt",
                     "/own.txt")
    assert out.stdout == "shared\nb\n"
    docker_cli(h, "rmi", f"{reg.addr}/shared/img:a")
    left = blob_files(h)
    assert la[3][7:] not in left and all(x[7:] in left for x in lb)
    docker_cli(h, "rmi", f"{reg.addr}/shared/img:b")
    # the busybox layer (lb[1]) is also the index test's: only it may stay
    assert not set(blob_files(h)) & {x[7:] for x in la + lb if x != lb[1]}


def test_snapshot_sharing_keeps_each_image_exact(world):
    """Image A = [l1, l2 with whiteouts], image C = [l1, own layer]: C starts
    from l1's snapshot, so it still has what A's whiteouts deleted, A does not;
    removing A leaves C intact (hard-linked files are never written in place)."""
    h, reg, d = world
    from integration import imagetars
    l1, l2 = imagetars.layers()
    lay = ri.Layout(d / "wh")
    lay.tag("a", lay.image([l1, l2]))
    lay.tag("c", lay.image([l1, ri.files_layer({"keep.txt": b"replaced in C\n"})]))
    reg.seed(f"oci:{lay.path}:a", "wh/img:a")
    reg.seed(f"oci:{lay.path}:c", "wh/img:c")
    pull(h, f"{reg.addr}/wh/img", "a")
    msgs = pull(h, f"{reg.addr}/wh/img", "c")
    assert len({x["id"] for x in msgs if x.get("status") == "Extracting"}) == 1, msgs
    script = "cat /keep.txt; ls /data/old; test -e /etc/gone.txt && echo has-gone || echo no"
    a = docker_cli(h, "run", "--rm", f"{reg.addr}/wh/img:a", "sh", "-c", script).stdout
    c = docker_cli(h, "run", "--rm", f"{reg.addr}/wh/img:c", "sh", "-c", script).stdout
    assert a.split() == ["kept", "from", "layer", "1", "c", "no"], a
    assert c.split() == ["replaced", "in", "C", "a", "b", "has-gone"], c
    docker_cli(h, "rmi", f"{reg.addr}/wh/img:a")
    c2 = docker_cli(h, "run", "--rm", f"{reg.addr}/wh/img:c", "sh", "-c", script).stdout
    assert c2 == c
    docker_cli(h, "rmi", f"{reg.addr}/wh/img:c")


def test_zstd_layers(world):
    """An image whose layers are zstd-compressed (OCI +zstd) pulls and runs."""
    h, reg, d = world
    lay = ri.Layout(d / "zstd")
    lay.tag("1", lay.image([ri.base_layer(), ri.files_layer({"z.txt": b"zstd ok\n"})],
                           compress="zstd"))
    reg.seed(f"oci:{lay.path}:1", "zstd/img:1")
    _, m = reg.manifest("zstd/img:1")
    assert all(x["mediaType"].endswith("+zstd") for x in m["layers"]), m
    pull(h, f"{reg.addr}/zstd/img", "1")
    out = docker_cli(h, "run", "--rm", f"{reg.addr}/zstd/img:1", "cat", "/z.txt")
    assert out.stdout == "zstd ok\n"


def test_concurrent_pulls_download_each_blob_once(world):
    """Two pulls of one image at once both succeed; the registry served the big
    layer once."""
    h, reg, d = world
    lay = ri.Layout(d / "conc")
    lay.tag("1", lay.image([ri.base_layer(), ri.random_layer("big.bin", 8 << 20)],
                           compress="none"))
    reg.seed(f"oci:{lay.path}:1", "conc/img:1")
    _, m = reg.manifest("conc/img:1")
    big = m["layers"][1]["digest"]
    results = []

    def one():
        results.append(stream(h, f"/images/create?fromImage={reg.addr}/conc/img&tag=1"))
    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert [r[0] for r in results] == [200, 200], results
    assert all(r[1][-1]["status"].startswith("Status:") for r in results), results
    log = reg.log.read_text()
    gets = [line for line in log.splitlines()
            if f"/v2/conc/img/blobs/{big}" in line and "GET" in line and "response completed"
            in line]
    assert len(gets) == 1, gets


@pytest.mark.parametrize("mode,words", [("cut", "cut short"), ("pad", "more than"),
                                        ("hang", "timed out")])
def test_interrupted_or_oversized_blob_leaves_nothing(world, mode, words):
    """A proxy cuts the connection half-way through a layer (or sends more
    bytes than declared): the pull fails in the stream and nothing is kept:
    no image, no blob of that layer, no staging dir or temp file."""
    h, reg, d = world
    lay = ri.Layout(d / f"cut-{mode}")
    lay.tag("1", lay.image([ri.base_layer(), ri.random_layer("big.bin", 4 << 20)],
                           compress="none"))
    reg.seed(f"oci:{lay.path}:1", f"cut/{mode}:1")
    _, m = reg.manifest(f"cut/{mode}:1")
    victim = m["layers"][1]["digest"]
    port = {"cut": 5001, "pad": 5002, "hang": 5003}[mode]
    reg.outside.popen([sys.executable, str(PROXY), f"{reg.outside.ip}:{port}", reg.url,
                       victim, mode])
    via = f"{reg.outside.ip}:{port}"
    harness_deadline_probe(h, via)
    status, msgs = stream(h, f"/images/create?fromImage={via}/cut/{mode}&tag=1")
    assert status == 200
    assert "error" in msgs[-1] and words in msgs[-1]["error"], msgs[-1]
    st, _ = h.api("GET", f"/images/{via}/cut/{mode}:1/json")
    assert st == 404
    assert victim[7:] not in blob_files(h)
    assert not staging_left(h)


def test_manifest_not_matching_its_digest_is_refused(world):
    """A manifest whose bytes do not hash to the registry's Docker-Content-Digest
    (by tag) or to the digest asked for: a 400 before anything is stored."""
    h, reg, d = world
    lay = ri.Layout(d / "mdig")
    lay.tag("1", lay.image([ri.base_layer()]))
    reg.seed(f"oci:{lay.path}:1", "mdig/img:1")
    digest, _ = reg.manifest("mdig/img:1")
    via = f"{reg.outside.ip}:5004"
    reg.outside.popen([sys.executable, str(PROXY), via, reg.url, "manifests", "manifest"])
    harness_deadline_probe(h, via)
    status, body = stream(h, f"/images/create?fromImage={via}/mdig/img&tag=1")
    assert status == 400 and f"the registry says digest {digest}" in body["message"], body
    status, body = stream(h, f"/images/create?fromImage={via}/mdig/img&tag={digest}")
    assert status == 400 and "manifest verification failed" in body["message"], body
    assert h.api("GET", f"/images/{via}/mdig/img:1/json")[0] == 404
    assert not staging_left(h)


def harness_deadline_probe(h, addr, timeout=20):
    """Wait until the proxy answers /v2/ from the host netns."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = h.sh(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                  f"http://{addr}/v2/"], check=False)
        if r.stdout.strip() == "200":
            return
        time.sleep(0.1)
    raise AssertionError(f"proxy {addr} not answering")


def test_image_prune_frees_blobs(world):
    """`docker image prune` removes dangling images only, `-a` every unused one
    (built-ins kept); the blobs they alone used are freed."""
    h, reg, d = world
    lay = ri.Layout(d / "prune")
    one = lay.image([ri.base_layer(), ri.files_layer({"p.txt": b"one\n"})])
    two = lay.image([ri.base_layer(), ri.files_layer({"p.txt": b"two\n"})])
    lay.tag("one", one)
    lay.tag("two", two)
    reg.seed(f"oci:{lay.path}:one", "prune/img:one")
    reg.seed(f"oci:{lay.path}:two", "prune/img:two")
    own1 = reg.manifest("prune/img:one")[1]["layers"][1]["digest"][7:]
    own2 = reg.manifest("prune/img:two")[1]["layers"][1]["digest"][7:]
    pull(h, f"{reg.addr}/prune/img", "one")
    pull(h, f"{reg.addr}/prune/img", "two")
    docker_cli(h, "tag", f"{reg.addr}/prune/img:two", f"{reg.addr}/prune/img:one")
    r = docker_cli(h, "image", "prune", "-f")
    assert "deleted: sha256:" in r.stdout.lower(), r.stdout
    assert own1 not in blob_files(h) and own2 in blob_files(h)
    docker_cli(h, "run", "--rm", f"{reg.addr}/prune/img:one", "cat", "/p.txt")
    docker_cli(h, "image", "prune", "-a", "-f")
    assert own2 not in blob_files(h)
    assert not list((h.data_root / "snapshots").iterdir())   # no image left to use one
    images = h.api_ok("GET", "/images/json")
    assert [i["RepoTags"] for i in images] and all(
        not any(t.startswith(reg.addr) for t in i["RepoTags"]) for i in images), images
    assert any("busybox:latest" in i["RepoTags"] for i in images)


def test_daemon_killed_mid_pull_leaves_nothing(world):
    """boxnetd SIGKILLed while a layer streams in (the registry hangs half-way):
    after the restart there is no image, no temp blob, no staging directory."""
    import time
    h, reg, d = world
    lay = ri.Layout(d / "crash")
    lay.tag("1", lay.image([ri.base_layer(), ri.random_layer("big.bin", 4 << 20)],
                           compress="none"))
    reg.seed(f"oci:{lay.path}:1", "crash/img:1")
    victim = reg.manifest("crash/img:1")[1]["layers"][1]["digest"]
    via = f"{reg.outside.ip}:5005"
    reg.outside.popen([sys.executable, str(PROXY), via, reg.url, victim, "hang"])
    harness_deadline_probe(h, via)
    def cut_short():
        """The pull whose daemon dies: its client sees the connection end."""
        try:
            stream(h, f"/images/create?fromImage={via}/crash/img&tag=1")
        except (OSError, ValueError, harness.http.client.HTTPException):
            pass
    t = threading.Thread(target=cut_short, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not any(n.startswith(f".tmp-{victim[7:]}") for n in blob_files(h)):
        assert time.monotonic() < deadline, "the layer never started streaming"
        time.sleep(0.05)
    assert staging_left(h)                       # a pull is half-way: its traces exist
    h.kill9()
    h.start(*h.daemon_args)
    t.join(10)
    assert not staging_left(h), staging_left(h)
    assert h.api("GET", f"/images/{via}/crash/img:1/json")[0] == 404
    assert victim[7:] not in blob_files(h)
