"""Image integrity on the real daemon (issue 14, item 14): `docker load` of
tampered or hostile archives is a 400 with a clear message, and then `image
ls` and the data root's image store are unchanged; good archives still load
and run.

Covered here: a config whose digest is not the image ID its name claims; a
layer whose content differs from its diff_id (or from its blob digest); two
archives claiming one ID with different content; OCI indexes that reference
themselves, form a cycle, nest too deep, fan out without end or declare huge
or wrong sizes; JSON nested too deep or of the wrong shape; manifest.json
paths outside the archive; a multi-platform index loads this platform only.  Layer members: test_image_members.py; bombs:
test_image_bombs.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os

import pytest

from integration import imagetars as it
from integration.loadchecks import load, refused

pytestmark = pytest.mark.kernel
GOOD_LAYERS = it.layers()


def test_good_archives_load_and_run(host, tmp_path):
    """Baseline: a docker-archive (plain and gzip) and an OCI layout load and run;
    the stored config hashes to the image id."""
    files = it.docker_archive_files(GOOD_LAYERS, "integ/good:1")
    status, body = load(host, it.tar_bytes([it.member(n, d) for n, d in files]), tmp_path)
    assert status == 200, body
    cfg = dict(files)[json.loads(dict(files)["manifest.json"])[0]["Config"]]
    iid = "sha256:" + it.sha(cfg)
    assert host.api_ok("GET", "/images/integ/good:1/json")["Id"] == iid
    stored = (host.data_root / "images" / iid[7:] / "config.json").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == iid[7:]
    assert host.cli("run", "--rm", "integ/good:1", "cat", "/hello.txt").stdout == \
        "hello from layer 2\n"
    gz = gzip.compress(it.tar_bytes([it.member(n, d) for n, d in
                                     it.docker_archive_files(GOOD_LAYERS, "integ/gz:1")]))
    status, body = load(host, gz, tmp_path)
    assert status == 200 and host.api_ok("GET", "/images/integ/gz:1/json")["Id"] == iid, body
    oci = tmp_path / "oci.tar"
    assert it.oci_layout(str(oci), "integ/oci:1") == iid
    status, body = load(host, oci.read_bytes(), tmp_path)
    assert status == 200, body
    assert host.cli("run", "--rm", "integ/oci:1", "cat", "/keep.txt").stdout == \
        "kept from layer 1\n"


def test_config_digest_mismatch(host, tmp_path):
    """A config named by a digest that is not its own: 400, nothing stored."""
    files = it.docker_archive_files(GOOD_LAYERS, "integ/badcfg:1")
    cfg = dict(files)[json.loads(dict(files)["manifest.json"])[0]["Config"]]
    forged = cfg.replace(b'"LOADED=1"', b'"LOADED=2"')
    claimed = f"blobs/sha256/{it.sha(cfg)}"
    bad = [(n, forged if n == claimed else d) for n, d in files]
    refused(host, bad, tmp_path, "digest", it.sha(cfg), "tampered")
    legacy = it.docker_archive_files(GOOD_LAYERS, "integ/badcfg:1", cfg=forged,
                                     cfg_name=f"{it.sha(cfg)}.json")
    refused(host, legacy, tmp_path, "not the image ID")


def test_layer_content_differs_from_diff_id(host, tmp_path):
    """A layer whose bytes are not the diff_id the config lists: 400, nothing stored."""
    evil = it.tar_bytes([it.member("hello.txt", b"evil content\n")])
    cfg = it.config([f"sha256:{it.sha(x)}" for x in GOOD_LAYERS])
    # named by its own digest (so the blob check passes), but not the config's diff_id
    files = [(f"blobs/sha256/{it.sha(GOOD_LAYERS[0])}", GOOD_LAYERS[0]),
             (f"blobs/sha256/{it.sha(evil)}", evil), (f"blobs/sha256/{it.sha(cfg)}", cfg),
             ("manifest.json", json.dumps([{"Config": f"blobs/sha256/{it.sha(cfg)}",
                                            "RepoTags": ["integ/badlayer:1"],
                                            "Layers": [f"blobs/sha256/{it.sha(GOOD_LAYERS[0])}",
                                                       f"blobs/sha256/{it.sha(evil)}"]}]).encode())]
    refused(host, files, tmp_path, "diff_id", it.sha(GOOD_LAYERS[1]))
    # legacy layout (<dir>/layer.tar, no digest in the name)
    manifest = [{"Config": f"{it.sha(cfg)}.json", "RepoTags": ["integ/badlayer:1"],
                 "Layers": ["l0/layer.tar", "l1/layer.tar"]}]
    legacy = [("l0/layer.tar", GOOD_LAYERS[0]), ("l1/layer.tar", evil),
              (f"{it.sha(cfg)}.json", cfg), ("manifest.json", json.dumps(manifest).encode())]
    refused(host, legacy, tmp_path, "diff_id")
    # a blob whose bytes are not the digest in its name (config and manifest intact)
    good = it.docker_archive_files(GOOD_LAYERS, "integ/badlayer:1")
    swapped = [(n, evil if n == f"blobs/sha256/{it.sha(GOOD_LAYERS[1])}" else d) for n, d in good]
    refused(host, swapped, tmp_path, "not the sha256:" + it.sha(GOOD_LAYERS[1]))


def test_same_id_different_content_never_swaps(host, tmp_path):
    """Archive A loads; archive B claims A's id (same config) with other layer
    content and A's tag: 400, and the tag still runs A's content."""
    a = it.docker_archive_files(GOOD_LAYERS, "integ/swap:1")
    status, body = load(host, a, tmp_path)
    assert status == 200, body
    iid = host.api_ok("GET", "/images/integ/swap:1/json")["Id"]
    evil2 = it.tar_bytes([it.member("hello.txt", b"swapped!\n")])
    cfg = dict(a)[json.loads(dict(a)["manifest.json"])[0]["Config"]]
    b = [("l0/layer.tar", GOOD_LAYERS[0]), ("l1/layer.tar", evil2), (f"{iid[7:]}.json", cfg),
         ("manifest.json", json.dumps([{"Config": f"{iid[7:]}.json",
                                        "RepoTags": ["integ/swap:1", "integ/swap:2"],
                                        "Layers": ["l0/layer.tar", "l1/layer.tar"]}]).encode())]
    refused(host, b, tmp_path, "diff_id")
    assert host.cli("run", "--rm", "integ/swap:1", "cat", "/hello.txt").stdout == \
        "hello from layer 2\n"
    status, _ = host.api("GET", "/images/integ/swap:2/json")
    assert status == 404


def _manifest(layers: list[bytes], cfg: bytes) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": it.MANIFEST_TYPE,
                       "config": it.descriptor(cfg, "application/vnd.oci.image.config.v1+json"),
                       "layers": [it.descriptor(x, "application/vnd.oci.image.layer.v1.tar")
                                  for x in layers]}).encode()


def test_oci_index_self_reference_cycle_and_fanout(host, tmp_path):
    """Self-reference, a two-index cycle, nesting past the limit and a fan-out of
    indexes are each a 400, never a 500 or an endless walk."""
    fake = "sha256:" + "ab" * 32
    selfref = {"schemaVersion": 2, "manifests": [
        {"mediaType": it.INDEX_TYPE, "digest": fake, "size": 256}]}
    body = json.dumps(selfref).encode()
    # a blob that names its own digest cannot hash to it: the walk stops at the check
    files = it.oci_files(selfref, []) + [(f"blobs/sha256/{fake[7:]}", body.ljust(256))]
    refused(host, files, tmp_path, "does not match its digest")
    b_fake = "sha256:" + "cd" * 32
    idx_a = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": it.INDEX_TYPE, "digest": b_fake, "size": 256}]}).encode()
    cycle_b = {"schemaVersion": 2, "manifests": [it.descriptor(idx_a, it.INDEX_TYPE)]}
    files = it.oci_files({"schemaVersion": 2, "manifests": [
        it.descriptor(idx_a, it.INDEX_TYPE)]}, [idx_a]) + [
        (f"blobs/sha256/{b_fake[7:]}", json.dumps(cycle_b).encode().ljust(256))]
    refused(host, files, tmp_path, "does not match its digest")
    # nesting: valid digests all the way down, deeper than allowed
    cfg = it.config([f"sha256:{it.sha(x)}" for x in GOOD_LAYERS])
    man = _manifest(GOOD_LAYERS, cfg)
    blobs, top = [cfg, man, *GOOD_LAYERS], it.descriptor(man, it.MANIFEST_TYPE)
    for _ in range(6):
        idx = json.dumps({"schemaVersion": 2, "manifests": [top]}).encode()
        blobs.append(idx)
        top = it.descriptor(idx, it.INDEX_TYPE)
    refused(host, it.oci_files({"schemaVersion": 2, "manifests": [top]}, blobs), tmp_path,
            "nested more than")
    # fan-out: 40 x 40 references to one manifest (a "billion laughs" of indexes)
    inner = json.dumps({"schemaVersion": 2, "manifests": [
        it.descriptor(man, it.MANIFEST_TYPE)] * 40}).encode()
    outer = {"schemaVersion": 2, "manifests": [it.descriptor(inner, it.INDEX_TYPE)] * 40}
    refused(host, it.oci_files(outer, [cfg, man, inner, *GOOD_LAYERS]), tmp_path,
            "more than 1024")


def test_oci_declared_sizes(host, tmp_path):
    """A huge declared manifest or config size, and a descriptor size that is
    not the blob's, are each a 400 (nothing is read past the limit)."""
    cfg = it.config([f"sha256:{it.sha(x)}" for x in GOOD_LAYERS])
    man = _manifest(GOOD_LAYERS, cfg)
    blobs = [cfg, man, *GOOD_LAYERS]
    huge = dict(it.descriptor(man, it.MANIFEST_TYPE), size=1 << 40)
    refused(host, it.oci_files({"schemaVersion": 2, "manifests": [huge]}, blobs), tmp_path,
            "declares 1099511627776 bytes")
    wrong = dict(it.descriptor(man, it.MANIFEST_TYPE), size=len(man) + 1)
    refused(host, it.oci_files({"schemaVersion": 2, "manifests": [wrong]}, blobs), tmp_path,
            "its descriptor declares")
    m = json.loads(man)
    m["config"]["size"] = 1 << 33
    man2 = json.dumps(m).encode()
    refused(host, it.oci_files({"schemaVersion": 2, "manifests": [
        it.descriptor(man2, it.MANIFEST_TYPE)]}, [cfg, man2, *GOOD_LAYERS]), tmp_path, "declares")
    m = json.loads(man)
    m["layers"][0]["size"] = 1 << 50
    man3 = json.dumps(m).encode()
    refused(host, it.oci_files({"schemaVersion": 2, "manifests": [
        it.descriptor(man3, it.MANIFEST_TYPE)]}, [cfg, man3, *GOOD_LAYERS]), tmp_path,
        "descriptor declares")


def test_malformed_json_is_a_400(host, tmp_path):
    """manifest.json nested 100000 deep (a RecursionError in the parser), not a
    list, or with a config of the wrong shape: 400, never a 500."""
    refused(host, [("manifest.json", b"[" * 100_000)], tmp_path, "not valid JSON")
    refused(host, [("manifest.json", b'{"Config": 1}')], tmp_path, "list of objects")
    cfg = json.dumps({"rootfs": {"diff_ids": []}, "config": {"Cmd": "not-a-list"}}).encode()
    files = [(f"{it.sha(cfg)}.json", cfg), ("manifest.json", json.dumps(
        [{"Config": f"{it.sha(cfg)}.json", "RepoTags": ["integ/shape:1"], "Layers": []}]).encode())]
    refused(host, files, tmp_path, "invalid image config")
    deep = {"rootfs": {"diff_ids": []}, "config": {"Labels": {"a": {"b": "c"}}}}
    cfg = json.dumps(deep).encode()
    files = [(f"{it.sha(cfg)}.json", cfg), ("manifest.json", json.dumps(
        [{"Config": f"{it.sha(cfg)}.json", "RepoTags": ["integ/shape:2"], "Layers": []}]).encode())]
    refused(host, files, tmp_path, "invalid image config")


@pytest.mark.parametrize("field,path", [("Config", "../x.json"), ("Config", "/etc/passwd"),
                                        ("Layers", "../../etc/shadow"), ("Layers", "/etc/passwd"),
                                        ("Layers", "a/../../b")])
def test_manifest_paths_outside_the_archive(host, tmp_path, field, path):
    """manifest.json Config/Layers paths that escape the archive: 400."""
    files = it.docker_archive_files(GOOD_LAYERS, "integ/paths:1")
    manifest = json.loads(dict(files)["manifest.json"])
    manifest[0][field] = path if field == "Config" else [path, manifest[0]["Layers"][1]]
    files = [(n, json.dumps(manifest).encode() if n == "manifest.json" else d) for n, d in files]
    refused(host, files, tmp_path, "outside the archive")


def test_oci_multi_platform_index_loads_this_platform_only(host, tmp_path):
    """A nested multi-platform index whose manifest for another platform and an
    attestation manifest are absent from the archive (as `docker save
    --platform` writes it): they are skipped before any of their blobs is read,
    this platform's image loads under the index's name and runs."""
    here = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    other = "s390x" if here != "s390x" else "amd64"
    cfg = it.config([f"sha256:{it.sha(x)}" for x in GOOD_LAYERS])
    man = _manifest(GOOD_LAYERS, cfg)
    missing = "sha256:" + "ef" * 32
    inner = json.dumps({"schemaVersion": 2, "mediaType": it.INDEX_TYPE, "manifests": [
        {"mediaType": it.MANIFEST_TYPE, "digest": missing, "size": 500,
         "platform": {"architecture": other, "os": "linux"}},
        it.descriptor(man, it.MANIFEST_TYPE, platform={"architecture": here, "os": "linux"}),
        {"mediaType": it.MANIFEST_TYPE, "digest": "sha256:" + "12" * 32, "size": 500,
         "platform": {"architecture": "unknown", "os": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]}).encode()
    index = {"schemaVersion": 2, "manifests": [it.descriptor(
        inner, it.INDEX_TYPE, annotations={"io.containerd.image.name": "integ/multi:1"})]}
    status, body = load(host, it.oci_files(index, [cfg, man, inner, *GOOD_LAYERS]), tmp_path)
    assert status == 200 and "Loaded image: integ/multi:1" in json.dumps(body), body
    assert host.api_ok("GET", "/images/integ/multi:1/json")["Id"] == "sha256:" + it.sha(cfg)
    assert host.cli("run", "--rm", "integ/multi:1", "cat", "/hello.txt").stdout == \
        "hello from layer 2\n"
