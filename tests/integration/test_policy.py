"""Least-privilege policy (issue 20 section 1), proved from inside containers.

db accepts only app on 5432/tcp; app may egress only to db:5432 (and DNS, the
embedded resolver in its own netns).  Every probe is a real connection made
by a process inside a container (`boxnet exec`): an allowed one gets the
server's answer, a denied one times out.  A new replica of a service named in
a policy is allowed as soon as it runs; a removed one is revoked (a newcomer
given its very address is refused).  Bad policies are 400s naming the
problem, with no container made.
"""

from __future__ import annotations

import json

import pytest

from integration.netprobe import CLIENT, server_cmd, wait_ready

pytestmark = pytest.mark.kernel
NET, SUBNET = "polnet", "10.97.0.0/24"
PROJ = ["--label", "com.docker.compose.project=pp"]


def _pol(**d) -> str:
    return "com.boxnet.policy=" + json.dumps(d)


def reach(host, src: str, ip: str, port: int, proto: str = "tcp") -> bool:
    """A connection from inside container ``src``: True if the server answered."""
    r = host.exec(src, "python3", "-c", CLIENT, proto, ip, str(port), timeout=30)
    return r.returncode == 0 and bool(r.stdout.strip()) and "FAIL" not in r.stdout


def _policy_objects(host) -> str:
    """The listing of the policy's group sets and verdict maps (firewall/nft/policyset.py)."""
    out, keep = [], False
    for line in host.sh("nft list table inet boxnet").stdout.splitlines():
        if line.startswith("\tset ") or line.startswith("\tmap ") or line.startswith("\tchain "):
            keep = line.split()[1].startswith(("pg", "pv"))
        if keep:
            out.append(line)
    return "\n".join(out)


def _run(host, name, *extra):
    host.cli("run", "-d", "--name", name, "--network", NET, *extra, "boxnet/host",
             *server_cmd(5432))


@pytest.fixture(scope="module")
def world(host):
    """db (ingress: app 5432/tcp), app (egress: db 5432/tcp), other (no policy);
    every container serves TCP and UDP on 5432."""
    host.cli("network", "create", "--subnet", SUBNET, NET)
    _run(host, "db", "--label", _pol(ingress=[{"container": "app", "ports": ["5432/tcp"]}]))
    _run(host, "app", "--label", _pol(egress=[{"container": "db", "ports": ["5432/tcp"]}]))
    _run(host, "other")
    for n in ("db", "app", "other"):
        wait_ready(host, n, 5432)
    return host, {n: host.ip_of(n, NET) for n in ("db", "app", "other")}


def test_db_accepts_only_app_on_5432(world):
    host, ip = world
    assert reach(host, "app", ip["db"], 5432), host.nft_ruleset()
    assert not reach(host, "other", ip["db"], 5432)          # db's ingress
    assert not reach(host, "app", ip["db"], 5432, "udp")     # only tcp


def test_app_egress_only_to_db(world):
    host, ip = world
    assert not reach(host, "app", ip["other"], 5432)          # app's egress
    assert reach(host, "other", ip["app"], 5432)              # app has no ingress policy
    assert reach(host, "db", ip["other"], 5432)               # db has no egress policy


def test_dns_always_allowed(world):
    host, ip = world
    r = host.exec("app", "python3", "-c",
                  "import socket; print(socket.gethostbyname('db'))", timeout=30)
    assert r.stdout.strip() == ip["db"], r.stdout + r.stderr


def test_replica_allowed_at_once_and_removed_one_revoked(world):
    """db2 accepts service `web` of project pp: web-1 already runs, web-2 is
    allowed the moment `run` returns; when web-2 is removed, a container
    given its very address is refused."""
    host, _ = world
    _run(host, "db2", *PROJ,
         "--label", _pol(ingress=[{"service": "web", "ports": ["5432/tcp"]}]))
    svc = [*PROJ, "--label", "com.docker.compose.service=web"]
    _run(host, "web-1", *svc)
    wait_ready(host, "db2", 5432)
    db2 = host.ip_of("db2", NET)
    assert reach(host, "web-1", db2, 5432)
    _run(host, "web-2", *svc)
    assert reach(host, "web-2", db2, 5432)      # no wait: in the sets before it started
    old = host.ip_of("web-2", NET)
    host.cli("rm", "-f", "web-2")
    assert old not in _policy_objects(host)     # no group element, no map element
    _run(host, "rogue", "--ip", old)
    assert not reach(host, "rogue", db2, 5432)
    assert reach(host, "web-1", db2, 5432)
    for n in ("db2", "web-1", "rogue"):
        host.cli("rm", "-f", n)


def test_stopped_container_leaves_no_elements(world):
    host, ip = world
    _run(host, "tmp", "--label", _pol(egress=[]))
    t = host.ip_of("tmp", NET)
    assert not reach(host, "tmp", ip["other"], 5432)          # egress: [] denies all
    assert t in host.sh("nft list map inet boxnet pveg4").stdout
    host.cli("rm", "-f", "tmp")
    assert t not in _policy_objects(host)


@pytest.mark.parametrize("policy,words", [
    ("{not json", "not valid JSON"),
    (json.dumps({"ingress": [{"container": "aa", "ports": ["80/tcp"]},
                             {"container": "aa", "ports": ["70-90/tcp"]}]}), "overlap"),
    (json.dumps({"ingress": [{"container": "aa", "cidr": "10.0.0.0/8"}]}), "exactly one peer"),
    (json.dumps({"ingress": [{"container": "a"}]}), "container 'a' can never match"),
    (json.dumps({"egress": [{"cidr": "10.0.0.0/8", "ports": ["90-80/tcp"]}]}), "contradictory"),
    (json.dumps({"egress": [{"cidr": "10.0.0.0/8", "ports": ["icmp/8"]}]}), "icmp has no ports"),
    (json.dumps({"egres": []}), "unknown key 'egres'"),
])
def test_bad_policy_is_refused_and_nothing_made(world, policy, words):
    host, _ = world
    status, body = host.api("POST", "/containers/create?name=badpol", json={
        "Image": "busybox", "Cmd": ["true"], "Labels": {"com.boxnet.policy": policy},
        "HostConfig": {"NetworkMode": NET}})
    assert status == 400 and words in body["message"], (status, body)
    assert host.api("GET", "/containers/badpol/json")[0] == 404


def test_policy_on_host_network_refused(world):
    host, _ = world
    status, body = host.api("POST", "/containers/create", json={
        "Image": "busybox", "Cmd": ["true"], "Labels": {"com.boxnet.policy": "{}"},
        "HostConfig": {"NetworkMode": "host"}})
    assert status == 400 and "network of its own" in body["message"], body


def test_docker_cli_runs_a_policied_container_and_shows_the_refusal(world):
    """The real docker CLI: --label carries the policy; a bad one is its error, exit 125."""
    import os
    import shutil
    import subprocess
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    if not os.access(docker, os.X_OK):
        pytest.skip("the docker CLI is not installed")
    host, ip = world
    env = {**os.environ, "DOCKER_HOST": host.host_uri}
    r = subprocess.run([docker, "run", "-d", "--name", "dk", "--network", NET, "--label",
                        _pol(egress=[{"container": "other", "ports": ["5432/tcp"]}]),
                        "boxnet/host", *server_cmd(5432)], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert reach(host, "dk", ip["other"], 5432)                # its egress allows other
    assert not reach(host, "dk", ip["app"], 5432)              # ... and nothing else
    r = subprocess.run([docker, "run", "--name", "dkbad", "--network", NET, "--label",
                        "com.boxnet.policy={\"ingress\": [{\"cidr\": \"10.0.0.0/33\"}]}",
                        "busybox", "true"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 125 and "invalid cidr" in r.stderr, r.stderr
    host.cli("rm", "-f", "dk")
