"""Names in policies through the API (issue 20 section 1, docs/policy.md "Names"), and
bad input through every client: the API, the docker CLI, docker-py, docker compose v2.

A service/container name that matches nothing yet is accepted (the peer may come
later) but never silently: the create response's Warnings names it (the docker
CLI prints it), `network diagnose` says it when the policy denies; a name no
container can have and a network that does not exist are refused with a 400 and
nothing made.  The peer that appears later is allowed at once, from inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integration.netprobe import server_cmd, wait_ready
from integration.test_policy import reach

pytestmark = pytest.mark.kernel
NET = "polnames"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
COMPOSE = str(Path(sys.executable).parent / "docker-compose")


def _lab(pol) -> str:
    return "com.boxnet.policy=" + (pol if isinstance(pol, str) else json.dumps(pol))


def _create(host, name, pol, **hc):
    return host.api("POST", f"/containers/create?name={name}", json={
        "Image": "boxnet/host", "Cmd": server_cmd(5432), "Labels": {
            "com.boxnet.policy": json.dumps(pol)}, "HostConfig": {"NetworkMode": NET, **hc}})


@pytest.fixture(scope="module")
def world(host):
    host.cli("network", "create", "--subnet", "10.94.0.0/24", NET)
    return host


def _gone(host, name) -> bool:
    return host.api("GET", f"/containers/{name}/json")[0] == 404


def test_unmatched_name_is_a_warning_and_the_peer_may_come_later(world):
    """db's ingress names app before app exists: created with a warning naming app;
    then app is created and reaches db at once; a bystander still does not."""
    host = world
    status, body = _create(host, "ndb", {"ingress": [{"container": "napp", "ports": ["5432/tcp"]},
                                                     {"service": "nweb"}]})
    assert status == 201, body
    w = body["Warnings"]
    assert len(w) == 2 and "container 'napp'" in w[0] and "service 'nweb'" in w[1], w
    assert "allows nothing" in w[0]
    host.cli("start", "ndb")
    host.cli("run", "-d", "--name", "nby", "--network", NET, "boxnet/host", *server_cmd(5432))
    wait_ready(host, "ndb", 5432)
    wait_ready(host, "nby", 5432)
    db = host.ip_of("ndb", NET)
    # diagnose names the rule that matches nothing
    r = host.cli("network", "diagnose", "--timeout", "3", "--format", "json", "nby",
                 f"ndb:5432", check=False, timeout=60)
    detail = json.dumps(json.loads(r.stdout)["Causes"])
    assert "container 'napp'" in detail and "matches no running container" in detail, detail
    host.cli("run", "-d", "--name", "napp", "--network", NET, "boxnet/host", *server_cmd(5432))
    assert reach(host, "napp", db, 5432)          # the peer that came later: at once
    assert not reach(host, "nby", db, 5432)
    # a name that matches now is no warning
    status, body = _create(host, "ndb2", {"ingress": [{"container": "napp"}]})
    assert status == 201 and body["Warnings"] == [], body
    for n in ("ndb", "ndb2", "nby", "napp"):
        host.cli("rm", "-f", n)


@pytest.mark.parametrize("pol,words", [
    ({"ingress": [{"container": "-x"}]}, "container '-x' can never match"),
    ({"ingress": [{"container": "a b"}]}, "can never match"),
    ({"egress": [{"service": "we/b"}]}, "service 'we/b' can never match"),
    ({"egress": [{"network": "nosuchnet"}]}, "network 'nosuchnet', which does not exist"),
])
def test_impossible_names_refused_and_nothing_made(world, pol, words):
    status, body = _create(world, "nbad", pol)
    assert status == 400 and words in body["message"], (status, body)
    assert _gone(world, "nbad")


def test_docker_cli_prints_the_warning(world):
    if not os.access(DOCKER, os.X_OK):
        pytest.skip("the docker CLI is not installed")
    env = {**os.environ, "DOCKER_HOST": world.host_uri}
    r = subprocess.run([DOCKER, "create", "--name", "ncli", "--network", NET, "--label",
                        _lab({"egress": [{"container": "ghost"}]}), "busybox", "true"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "WARNING: com.boxnet.policy: the egress rule naming container 'ghost'" in r.stderr
    r = subprocess.run([DOCKER, "create", "--name", "ncli2", "--network", NET, "--label",
                        _lab({"egress": [{"network": "ghostnet"}]}), "busybox", "true"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "ghostnet" in r.stderr, r.stderr
    assert _gone(world, "ncli2")
    world.cli("rm", "-f", "ncli")


def test_dockerpy_warnings_and_bad_input(world):
    docker = pytest.importorskip("docker", reason="docker-py is not installed")
    cl = docker.DockerClient(base_url=world.host_uri, version="auto", timeout=60)
    try:
        resp = cl.api.create_container("busybox", ["true"], name="npy", labels={
            "com.boxnet.policy": json.dumps({"ingress": [{"service": "later"}]})},
            host_config=cl.api.create_host_config(network_mode=NET))
        assert any("service 'later'" in w for w in resp["Warnings"]), resp
        for pol, words in (
                ({"ingress": [{"container": "aa", "ports": ["80"]},
                              {"container": "aa", "ports": ["70-90"]}]}, "overlap"),
                ({"egress": [{"cidr": "10.0.0.0/8"}, {"cidr": "10.1.0.0/16"}]}, "overlap"),
                ({"ingress": [{"service": "x1"}], "egres": []}, "unknown key 'egres'")):
            with pytest.raises(docker.errors.APIError) as ei:
                cl.containers.run("busybox", "true", name="npybad", detach=True,
                                  network=NET, labels={"com.boxnet.policy": json.dumps(pol)})
            assert ei.value.status_code == 400 and words in str(ei.value), str(ei.value)
            assert _gone(world, "npybad")
        with pytest.raises(docker.errors.APIError) as ei:
            cl.containers.run("busybox", "sleep 60", name="npybad", detach=True, network=NET,
                              ports={"5432/tcp": 18700}, labels={"com.boxnet.policy": json.dumps(
                                  {"ingress": [{"container": "aa"}]})})
        assert ei.value.status_code == 400 and "5432/tcp is published" in str(ei.value)
        assert _gone(world, "npybad")
    finally:
        world.cli("rm", "-f", "npy", check=False)
        cl.close()


COMPOSE_BAD = """
name: nv2
services:
  db:
    image: busybox
    command: ["sleep", "600"]
    labels:
      com.boxnet.policy: '{"ingress": [{"service": "app", "ports": ["5432/tcp", "5000-6000/tcp"]}]}'
"""
COMPOSE_X = """
name: nv3
services:
  db:
    image: busybox
    command: ["sleep", "600"]
    x-boxnet:
      policy:
        ingress: [{service: app, ports: ["5432/tcp"]}]
"""


def test_docker_compose_v2(world, tmp_path):
    """docker compose v2 passes the label: a bad policy is its error and no container
    is made.  It drops x-boxnet (compose-go keeps extensions to itself): boxnetd
    sees the file's policy anyway and refuses the service rather than run it without."""
    if not os.access(COMPOSE, os.X_OK):
        pytest.skip("docker compose v2 is not installed")
    env = {**os.environ, "DOCKER_HOST": world.host_uri, "DOCKER_CONFIG": str(tmp_path)}
    for text, project, words in ((COMPOSE_BAD, "nv2", "overlapping ports"),
                                 (COMPOSE_X, "nv3", "x-boxnet")):
        d = tmp_path / project
        d.mkdir()
        (d / "compose.yaml").write_text(text)
        r = subprocess.run([COMPOSE, "up", "-d"], cwd=d, env=env, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
        try:
            assert r.returncode != 0 and words in r.stderr, r.stdout + r.stderr
            assert not any(c["Names"][0].startswith(f"/{project}-") for c in
                           world.api("GET", "/containers/json?all=1")[1])
        finally:
            subprocess.run([COMPOSE, "down"], cwd=d, env=env, capture_output=True,
                           timeout=120, stdin=subprocess.DEVNULL)
