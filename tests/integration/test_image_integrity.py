"""Image integrity on the real daemon (issue 14, item 14): `docker load` and
`image import` of tampered or hostile archives are a 400 with a clear message,
and then `image ls` and the data root's image store are unchanged; good
archives still load and run.

Covered: a config whose digest is not the image ID its name claims; a layer
whose content differs from its diff_id (or from its blob digest); two
archives claiming one ID with different content; OCI indexes that reference
themselves, nest too deep, fan out without end or declare huge or wrong
sizes; manifest.json paths outside the archive; layer members with "..",
absolute paths, writes through symlinks, whiteouts through symlinks, hard
links outside the rootfs, device nodes; a decompression bomb and a huge
declared member on a daemon whose data root is a small tmpfs; tar headers
over 1 MiB; the reserved name boxnet/host.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tarfile

import pytest

from integration import harness, imagetars as it

pytestmark = pytest.mark.kernel
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
GOOD_LAYERS = it.layers()


def store_state(h) -> tuple:
    """What must not change after a refused load: every tag, every image id,
    the entries of the image store and of the data root."""
    imgs = h.api_ok("GET", "/images/json")
    return (sorted(t for i in imgs for t in i["RepoTags"]), sorted(i["Id"] for i in imgs),
            sorted(os.listdir(h.data_root / "images")), sorted(os.listdir(h.data_root)))


def load(h, files: list[tuple[str, bytes]] | bytes, tmp_path) -> tuple[int, object]:
    """POST /images/load of an archive (files, or raw bytes)."""
    body = files if isinstance(files, bytes) else it.tar_bytes([it.member(n, d) for n, d in files])
    return h.api("POST", "/images/load", body=body, headers={"Content-Type": "application/x-tar"})


def refused(h, files, tmp_path, *words: str) -> str:
    """Load must be a 400 whose message has every word; nothing may change."""
    before = store_state(h)
    status, body = load(h, files, tmp_path)
    assert status == 400, (status, body)
    msg = body["message"]
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert store_state(h) == before
    return msg


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


def _one_layer(host, tmp_path, members, tag: str):
    """Load a one-layer image (busybox binary + `members`): (status, body)."""
    with open(it.BUSYBOX, "rb") as f:
        base = [it.member("bin", type=tarfile.DIRTYPE, mode=0o755),
                it.member("bin/busybox", f.read(), mode=0o755),
                it.member("bin/sh", type=tarfile.SYMTYPE, linkname="busybox"),
                it.member("tmp", type=tarfile.DIRTYPE, mode=0o1777)]
    layer = it.tar_bytes(base + members)
    return load(host, it.docker_archive_files([layer], tag), tmp_path)


def test_layer_members_never_leave_the_rootfs(host, tmp_path):
    """'..' members, writes and whiteouts through symlinks, hard links outside:
    400, and the host files they aim at are untouched; an absolute member lands
    inside the rootfs; device nodes are not created."""
    victim = tmp_path / f"victim-{secrets.token_hex(4)}"
    victim.mkdir()
    (victim / "keep").write_text("keep\n")
    evil = {
        "dotdot": [it.member("../../../../../" + str(victim)[1:] + "/owned", b"x")],
        "through-symlink": [it.member("evil", type=tarfile.SYMTYPE, linkname=str(victim)),
                            it.member("evil/owned", b"x")],
        "through-relative-symlink": [
            it.member("evil", type=tarfile.SYMTYPE,
                      linkname="../../../../../../" + str(victim)[1:]),
            it.member("evil/owned", b"x")],
        "whiteout-through-symlink": [
            it.member("evil", type=tarfile.SYMTYPE, linkname=str(victim)),
            it.member("evil/.wh.keep", b"")],
        "opaque-through-symlink": [
            it.member("evil", type=tarfile.SYMTYPE, linkname=str(victim)),
            it.member("evil/.wh..wh..opq", b"")],
        "hardlink-dotdot": [it.member("hl", type=tarfile.LNKTYPE, linkname="../../etc/passwd")],
        "hardlink-absolute": [it.member("hl", type=tarfile.LNKTYPE, linkname=str(victim / "keep"))],
    }
    for name, members in evil.items():
        before = store_state(host)
        status, body = _one_layer(host, tmp_path, members, f"integ/evil-{name}:1")
        assert status == 400, (name, status, body)
        assert store_state(host) == before, name
        assert sorted(os.listdir(victim)) == ["keep"] and (victim / "keep").read_text() == "keep\n"
    marker = f"bxt-abs-{secrets.token_hex(4)}"
    status, body = _one_layer(host, tmp_path, [
        it.member(f"/tmp/{marker}", b"inside\n"),
        it.member("mem", type=tarfile.CHRTYPE, devmajor=1, devminor=1),
        it.member("fifo", type=tarfile.FIFOTYPE)], "integ/abs:1")
    assert status == 200, body
    assert not os.path.exists(f"/tmp/{marker}")
    out = host.cli("run", "--rm", "integ/abs:1", "sh", "-c",
                   f"cat /tmp/{marker}; test -e /mem || echo no-mem; test -e /fifo || echo no-fifo")
    assert out.stdout == "inside\nno-mem\nno-fifo\n", out


def test_huge_tar_headers_and_reserved_name(host, tmp_path):
    """A layer whose PAX header declares 8 MiB (tarfile would read it whole into
    memory) is a 400; an archive or import naming boxnet/host is a 400 (reserved)."""
    with_pax = it.member("big-pax", b"x")
    with_pax[0].pax_headers = {"comment": "x" * (8 << 20)}
    status, body = _one_layer(host, tmp_path, [with_pax], "integ/pax:1")
    assert status == 400 and "PAX or long-name" in body["message"], (status, body)
    refused(host, it.docker_archive_files(GOOD_LAYERS, "boxnet/host:latest"), tmp_path,
            "reserved")
    before = store_state(host)
    status, body = host.api("POST", "/images/create?fromSrc=-&repo=boxnet/host&tag=mine",
                            body=it.tar_bytes([it.member("x", b"x")]))
    assert status == 400 and "reserved" in body["message"], (status, body)
    assert store_state(host) == before


def test_import_id_is_config_digest_and_bad_import_stores_nothing(host, tmp_path):
    """docker import: the id is the digest of the stored config, whose diff_id is
    the uncompressed tarball's; a hostile tarball is a 400 and stores nothing."""
    with open(it.BUSYBOX, "rb") as f:
        plain = it.tar_bytes([it.member("bin/busybox", f.read(), mode=0o755),
                              it.member("bin/sh", type=tarfile.SYMTYPE, linkname="busybox")])
    status, body = host.api("POST", "/images/create?fromSrc=-&repo=integ/imp&tag=1",
                            body=gzip.compress(plain),
                            headers={"Content-Type": "application/x-tar"})
    assert status == 200, body
    iid = body["status"]
    cfg = (host.data_root / "images" / iid[7:] / "config.json").read_bytes()
    assert hashlib.sha256(cfg).hexdigest() == iid[7:]
    assert json.loads(cfg)["rootfs"]["diff_ids"] == ["sha256:" + it.sha(plain)]
    out = host.cli("run", "--rm", "integ/imp:1", "sh", "-c", "echo imported").stdout
    assert out == "imported\n"
    before = store_state(host)
    status, body = host.api("POST", "/images/create?fromSrc=-&repo=integ/imp&tag=2",
                            body=it.tar_bytes([it.member("../escape", b"x")]))
    assert status == 400 and ".." in body["message"], body
    assert store_state(host) == before


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK),
                    reason=f"the docker CLI is not installed ({DOCKER})")
def test_docker_cli_load_refuses_tampered(host, tmp_path):
    """`docker load -i` of a tampered archive fails with the daemon's message;
    the good one loads."""
    env = dict(os.environ, DOCKER_HOST=host.host_uri, DOCKER_CONFIG=str(tmp_path / "cfg"))
    files = it.docker_archive_files(GOOD_LAYERS, "integ/cli:1")
    evil = it.tar_bytes([it.member("hello.txt", b"evil\n")])
    bad = [(n, evil if n == f"blobs/sha256/{it.sha(GOOD_LAYERS[1])}" else d) for n, d in files]
    it.write_tar(str(tmp_path / "bad.tar"), bad)
    before = store_state(host)
    r = subprocess.run([DOCKER, "load", "-i", str(tmp_path / "bad.tar")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "tampered" in r.stderr, r
    assert store_state(host) == before
    it.write_tar(str(tmp_path / "good.tar"), files)
    r = subprocess.run([DOCKER, "load", "-i", str(tmp_path / "good.tar")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Loaded image: integ/cli:1" in r.stdout, r


def gz_zero_tar(path, members: list[tuple[str, int]]) -> bytes:
    """A gzip'd tar of members full of zeros (written streaming; its bytes returned)."""
    with gzip.open(path, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as t:
        for name, size in members:
            ti = tarfile.TarInfo(name)
            ti.size = size
            with open("/dev/zero", "rb") as z:
                t.addfile(ti, z)
    return path.read_bytes()


@pytest.fixture(scope="module")
def small_host():
    """A daemon whose data root is a 96 MiB tmpfs (bombs reach its limit fast)."""
    h = harness.TestHost()
    try:
        harness.run(["mount", "-t", "tmpfs", "-o", "size=96m", "bxt-small", str(h.data_root)])
        h.start()
        yield h
    finally:
        problems = h.teardown()
        assert not problems, problems


def test_decompression_bomb_and_huge_member(small_host, tmp_path):
    """A gzip layer of 400 MiB of zeros (~400 KiB compressed), a member that
    declares 1 TiB, a compressed archive bomb and an import bomb: each a 400
    naming the limit; nothing stored, and a small image still loads after."""
    h = small_host
    layer = gz_zero_tar(tmp_path / "bomb.tar.gz", [("zeros", 200 << 20)])
    assert len(layer) < 1 << 20
    cfg = it.config(["sha256:" + "0" * 64])  # never reached: the budget stops first
    files = [("l0/layer.tar", layer), (f"{it.sha(cfg)}.json", cfg),
             ("manifest.json", json.dumps([{"Config": f"{it.sha(cfg)}.json", "RepoTags": ["b:1"],
                                            "Layers": ["l0/layer.tar"]}]).encode())]
    refused(h, files, tmp_path, "decompression bomb")
    huge = tarfile.TarInfo("huge")
    huge.size = 1 << 40
    hdr = huge.tobuf(tarfile.PAX_FORMAT)
    files[0] = ("l0/layer.tar", gzip.compress(hdr + b"\0" * 1024))
    refused(h, files, tmp_path, "'huge'", "declares 1.0 TiB")
    outer = gz_zero_tar(tmp_path / "outer.tar.gz", [(f"z{i}", 1 << 20) for i in range(150)])
    refused(h, outer, tmp_path, "compressed archive", "grows past")
    many = gz_zero_tar(tmp_path / "many.tar.gz", [(f"z{i}", 1 << 20) for i in range(150)])
    files[0] = ("l0/layer.tar", many)
    refused(h, files, tmp_path, "decompression bomb")
    before = store_state(h)
    status, body = h.api("POST", "/images/create?fromSrc=-&repo=bomb", body=layer)
    assert status == 400 and "decompression bomb" in body["message"], body
    assert store_state(h) == before
    status, body = load(h, it.docker_archive_files(GOOD_LAYERS, "small/ok:1"), tmp_path)
    assert status == 200, body
    assert h.cli("run", "--rm", "small/ok:1", "cat", "/hello.txt").stdout == "hello from layer 2\n"
