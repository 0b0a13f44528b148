"""Every API response the client suites (docker CLI, docker-py, compose v2)
rely on, checked against the Engine API v1.50 spec's definitions with
jsonschema.  The spec is copied into tests/specs/ so the repo is
self-contained.  Swagger 2.0 is converted: `x-nullable: true` allows null,
and definitions are resolved in place (#/definitions/...).

Needs a live boxnetd (the `host` fixture: root), so it skips without root.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")
SPEC = Path(__file__).resolve().parent.parent / "specs" / "docker-engine-api-v1.50.yaml"


def _nullable(node):
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        # Go encodes nil slices and maps as null (dockerd does it too, e.g.
        # "Warnings": null, IPAM "Options": null) though the spec rarely says
        # x-nullable: null is accepted for arrays and objects, not for scalars.
        if (node.get("x-nullable") or node.get("type") in ("array", "object")) \
                and "type" in node and not isinstance(node["type"], list):
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    return node


@pytest.fixture(scope="module")
def definitions():
    """The spec's definitions, converted for jsonschema."""
    spec = yaml.safe_load(SPEC.read_text())
    return _nullable(spec["definitions"])


def check(defs: dict, name: str, instance, array: bool = False) -> None:
    """Validate `instance` (or each item) against definitions[name]."""
    schema = {"definitions": copy.deepcopy(defs), "$ref": f"#/definitions/{name}"}
    if array:
        schema = {"definitions": schema["definitions"], "type": "array",
                  "items": {"$ref": f"#/definitions/{name}"}}
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5])


@pytest.fixture(scope="module")
def world(host):
    """A network and a running container on it, as the client suites make."""
    host.api_ok("POST", "/networks/create", json={
        "Name": "schema-net", "Labels": {"a": "b"},
        "IPAM": {"Config": [{"Subnet": "10.95.0.0/24", "Gateway": "10.95.0.1"}]}})
    st, body = host.api("POST", "/containers/create?name=schema-c", json={
        "Image": "busybox", "Cmd": ["sleep", "600"], "Labels": {"x": "y"},
        "HostConfig": {"NetworkMode": "schema-net", "PortBindings": {"80/tcp": [{"HostPort": "8095"}]}},
        "NetworkingConfig": {"EndpointsConfig": {"schema-net": {"Aliases": ["sc"]}}}})
    assert st == 201, body
    host.api_ok("POST", "/containers/schema-c/start")
    return host, body


def test_system(definitions, host):
    """/version, /info."""
    check(definitions, "SystemVersion", host.api_ok("GET", "/version"))
    check(definitions, "SystemInfo", host.api_ok("GET", "/info"))


def test_networks(definitions, world):
    """/networks, /networks/{id}, create response."""
    host, _ = world
    check(definitions, "Network", host.api_ok("GET", "/networks"), array=True)
    check(definitions, "Network", host.api_ok("GET", "/networks/schema-net"))
    resp = host.api_ok("POST", "/networks/create", json={"Name": "schema-tmp"})
    check(definitions, "NetworkCreateResponse", resp)
    host.api_ok("DELETE", "/networks/schema-tmp")


def test_containers(definitions, world):
    """create, list, inspect, wait responses."""
    host, created = world
    check(definitions, "ContainerCreateResponse", created)
    check(definitions, "ContainerSummary", host.api_ok("GET", "/containers/json?all=1"),
          array=True)
    check(definitions, "ContainerInspectResponse", host.api_ok("GET", "/containers/schema-c/json"))
    st, body = host.api("POST", "/containers/create?name=schema-w",
                        json={"Image": "busybox", "Cmd": ["sh", "-c", "exit 3"]})
    host.api_ok("POST", "/containers/schema-w/start")
    st, waited = host.api("POST", "/containers/schema-w/wait")
    if isinstance(waited, str):
        waited = json.loads(waited)
    assert waited["StatusCode"] == 3
    check(definitions, "ContainerWaitResponse", waited)
    host.api_ok("DELETE", "/containers/schema-w")


def test_images(definitions, host):
    """/images/json, /images/{name}/json."""
    check(definitions, "ImageSummary", host.api_ok("GET", "/images/json"), array=True)
    check(definitions, "ImageInspect", host.api_ok("GET", "/images/busybox/json"))


def test_events_and_errors(definitions, world):
    """/events messages and error bodies."""
    host, _ = world
    st, text = host.api("GET", f"/events?since=0&until={int(time.time()) + 1}")
    assert st == 200
    msgs = [json.loads(line) for line in (text if isinstance(text, str) else "").splitlines()
            if line.strip()]
    assert any(m["Type"] == "network" and m["Action"] == "create" for m in msgs)
    for m in msgs:
        check(definitions, "EventMessage", m)
    st, err = host.api("GET", "/networks/no-such-net")
    assert st == 404
    check(definitions, "ErrorResponse", err)
    st, err = host.api("POST", "/swarm/leave")
    assert st == 503
    check(definitions, "ErrorResponse", err)


def check_response(defs: dict, path: str, method: str, status: str, instance) -> None:
    """Validate `instance` against the schema the spec gives inline for one response
    of one path (the operations whose reply has no named definition)."""
    spec = yaml.safe_load(SPEC.read_text())
    responses = spec["paths"][path][method]["responses"]
    schema = _nullable((responses.get(status) or responses[int(status)])["schema"])
    validator = jsonschema.Draft7Validator({"definitions": copy.deepcopy(defs), **schema})
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{method.upper()} {path}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5])


def test_exec_prune_connect_and_image_responses(definitions, world):
    """exec create/inspect (docker-py exec_run), network prune, connect/disconnect,
    container prune, image tag and delete: the replies the client suites read."""
    host, _ = world
    st, ex = host.api("POST", "/containers/schema-c/exec",
                      json={"Cmd": ["true"], "AttachStdout": True})
    assert st == 201, ex
    check(definitions, "IDResponse", ex)
    st, _ = host.api("POST", f"/exec/{ex['Id']}/start", json={"Detach": True})
    assert st == 200
    for _ in range(50):
        info = host.api_ok("GET", f"/exec/{ex['Id']}/json")
        if not info["Running"]:
            break
        time.sleep(0.05)
    assert info["ExitCode"] == 0, info
    check_response(definitions, "/exec/{id}/json", "get", "200", info)
    host.api_ok("POST", "/networks/create", json={"Name": "schema-prune"})
    host.api_ok("POST", "/networks/create", json={"Name": "schema-conn"})
    st, body = host.api("POST", "/networks/schema-conn/connect", json={"Container": "schema-c"})
    assert st == 200, body
    st, body = host.api("POST", "/networks/schema-conn/disconnect",
                        json={"Container": "schema-c"})
    assert st == 200, body
    pruned = host.api_ok("POST", "/networks/prune")
    assert {"schema-prune", "schema-conn"} <= set(pruned["NetworksDeleted"] or [])
    check_response(definitions, "/networks/prune", "post", "200", pruned)
    st, dead = host.api("POST", "/containers/create?name=schema-dead",
                        json={"Image": "busybox", "Cmd": ["true"]})
    pruned = host.api_ok("POST", "/containers/prune")
    assert dead["Id"] in pruned["ContainersDeleted"], pruned
    assert host.api("GET", "/containers/schema-c/json")[0] == 200   # running: kept
    check_response(definitions, "/containers/prune", "post", "200", pruned)
    st, body = host.api("POST", "/images/busybox/tag?repo=schema-img&tag=v1")
    assert st == 201, body
    deleted = host.api_ok("DELETE", "/images/schema-img:v1")
    check(definitions, "ImageDeleteResponseItem", deleted, array=True)
    assert any(d.get("Untagged") == "schema-img:v1" for d in deleted), deleted


def test_volumes(definitions, host):
    """Volume create, inspect, list, prune; a container's Mounts (MountPoint)."""
    made = host.api_ok("POST", "/volumes/create", json={"Name": "schema-v", "Labels": {"a": "b"}})
    check(definitions, "Volume", made)
    check(definitions, "Volume", host.api_ok("GET", "/volumes/schema-v"))
    check(definitions, "VolumeListResponse", host.api_ok("GET", "/volumes"))
    st, body = host.api("POST", "/containers/create?name=schema-m", json={
        "Image": "busybox", "Cmd": ["true"], "Volumes": {"/anon": {}},
        "HostConfig": {"Binds": ["schema-v:/v:ro"],
                       "Mounts": [{"Type": "tmpfs", "Target": "/t"}]}})
    assert st == 201, body
    inspect = host.api_ok("GET", "/containers/schema-m/json")
    check(definitions, "ContainerInspectResponse", inspect)
    check(definitions, "MountPoint", inspect["Mounts"], array=True)
    assert [m["Type"] for m in inspect["Mounts"]] == ["volume", "tmpfs", "volume"]
    host.api_ok("DELETE", "/containers/schema-m?v=1")
    host.api_ok("DELETE", "/volumes/schema-v")
    pruned = host.api_ok("POST", "/volumes/prune")
    assert set(pruned) == {"VolumesDeleted", "SpaceReclaimed"}
