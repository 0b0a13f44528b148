"""Registry sans-I/O parts: Docker's reference grammar and normalisation,
manifest checks (platform choice, foreign layers, schema 1), auth headers
and challenges, insecure-registry rules."""

from __future__ import annotations

import base64
import json

import pytest

from boxnet.errors import InvalidParameter, NotFound
from boxnet.registry import manifest as mf
from boxnet.registry.auth import check_push_body, decode_auth_header, parse_challenge
from boxnet.registry.options import RegistryOptions
from boxnet.registry.reference import parse

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("s,domain,path,tag,familiar", [
    ("busybox", "docker.io", "library/busybox", "latest", "busybox"),
    ("library/busybox:1.36", "docker.io", "library/busybox", "1.36", "busybox"),
    ("docker.io/busybox", "docker.io", "library/busybox", "latest", "busybox"),
    ("index.docker.io/u/app:2", "docker.io", "u/app", "2", "u/app"),
    ("u/app", "docker.io", "u/app", "latest", "u/app"),
    ("localhost/app", "localhost", "app", "latest", "localhost/app"),
    ("localhost:5000/a/b:c", "localhost:5000", "a/b", "c", "localhost:5000/a/b"),
    ("198.18.0.2:5000/team/web:1.2", "198.18.0.2:5000", "team/web", "1.2",
     "198.18.0.2:5000/team/web"),
    ("registry.example/x__y/z-w.v", "registry.example", "x__y/z-w.v", "latest",
     "registry.example/x__y/z-w.v"),
])
def test_normalisation(s, domain, path, tag, familiar):
    r = parse(s)
    assert (r.domain, r.path, r.tag, r.familiar) == (domain, path, tag, familiar)
    assert r.local_tag == f"{familiar}:{tag}"


def test_digest_and_separate_tag():
    r = parse("busybox@" + D)
    assert r.digest == D and r.tag == "" and r.ref == D and r.local_tag == ""
    assert parse("host:5000/a", "v1").tag == "v1"
    assert parse("host:5000/a", D).digest == D


@pytest.mark.parametrize("bad", ["", "UPPER", "a/B", "a:b:c", "-a", "a//b", "a@sha256:12",
                                 "a@md5:" + "0" * 32, "a/" + "b" * 256, "a b"])
def test_invalid_references(bad):
    with pytest.raises(InvalidParameter, match="invalid reference format"):
        parse(bad)


def test_uppercase_named():
    with pytest.raises(InvalidParameter, match="must be lowercase"):
        parse("Team/Web")


def _index(*plats):
    return {"mediaType": mf.OCI_INDEX, "manifests": [
        {"mediaType": mf.OCI_MANIFEST, "digest": "sha256:" + str(i) * 64, "size": 10,
         "platform": dict(zip(("os", "architecture", "variant"), p))}
        for i, p in enumerate(plats)]}


def test_platform_choice():
    idx = _index(("linux", "arm", "v6"), ("linux", "arm", "v7"), ("linux", "amd64"))
    assert mf.choose(idx, mf.Platform("linux", "amd64"), "x").digest == "sha256:" + "2" * 64
    assert mf.choose(idx, mf.parse_platform("linux/arm/v7"), "x").digest == "sha256:" + "1" * 64
    assert mf.choose(idx, mf.Platform("linux", "arm"), "x").digest == "sha256:" + "0" * 64
    with pytest.raises(NotFound, match="no matching manifest for windows/amd64"):
        mf.choose(idx, mf.Platform("windows", "amd64"), "x")
    with pytest.raises(InvalidParameter, match="invalid platform"):
        mf.parse_platform("linux//x")


def _manifest(layer_type):
    return {"mediaType": mf.DOCKER_MANIFEST,
            "config": {"mediaType": mf.DOCKER_CONFIG, "digest": D, "size": 2},
            "layers": [{"mediaType": layer_type, "digest": D, "size": 3}]}


def test_layer_types():
    m = mf.image_manifest(_manifest("application/vnd.docker.image.rootfs.diff.tar.gzip"), "x")
    assert m.layers[0].size == 3
    with pytest.raises(InvalidParameter, match="foreign layer"):
        mf.image_manifest(_manifest(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"), "x")
    with pytest.raises(InvalidParameter, match="unsupported media type"):
        mf.image_manifest(_manifest("application/x-helm"), "x")


def test_schema1_refused():
    with pytest.raises(InvalidParameter, match="schema 1"):
        mf.decode(json.dumps({"schemaVersion": 1}).encode(), "")


def test_auth_header():
    enc = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode())
    c = decode_auth_header(enc.decode().rstrip("="))
    assert (c.username, c.password) == ("u", "p")
    auth = base64.b64encode(b"x:y:z").decode()
    enc = base64.b64encode(json.dumps({"auth": auth}).encode()).decode()
    c = decode_auth_header(enc)
    assert (c.username, c.password) == ("x", "y:z")
    assert decode_auth_header("").empty and decode_auth_header("e30=").empty
    with pytest.raises(InvalidParameter, match="X-Registry-Auth"):
        decode_auth_header("!!!")


def test_push_body_without_the_header():
    for ok in (b"", b"  \n", b"{}", b'{"serveraddress": "r:5000"}'):
        check_push_body(ok)   # anonymous, as moby master
    for bad in (b'{"username": "u", "password": "p"}', b'{"identitytoken": "t"}',
                b"nope", b"[]"):
        with pytest.raises(InvalidParameter, match="X-Registry-Auth"):
            check_push_body(bad)


def test_challenge():
    s, p = parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                           'scope="repository:a/b:pull,push"')
    assert s == "bearer" and p == {"realm": "https://auth.example/token", "service": "reg",
                                   "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_insecure_rules():
    o = RegistryOptions(insecure=["10.0.0.0/8", "reg.local:5000"])
    assert o.is_insecure("127.0.0.1:5000") and o.is_insecure("10.1.2.3:443")
    assert o.is_insecure("reg.local:5000") and not o.is_insecure("reg.local:5001")
    assert not o.is_insecure("198.18.0.2:5000") and not o.is_insecure("docker.io")
