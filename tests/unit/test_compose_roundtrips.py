"""The API calls of `compose up` and `down` of the seed example, against a fake Engine
API: one image inspect per image, one container listing, the two networks created at
the same time (the fake answers neither until both are asked), containers created and
started in dependency order, each start after the previous one's answer; `down` removes
dependents first, then the networks. External networks are checked before anything is
created."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from boxnet.client.engine import Client
from boxnet.compose import loader, project
from boxnet.compose.errors import ProjectError
from fake_docker_api import FakeDocker

V = "/v1.52"
SEED = Path(__file__).resolve().parents[2] / "examples" / "compose-seed" / "compose.yaml"


@pytest.fixture
def api(tmp_path):
    fake = FakeDocker(str(tmp_path / "d.sock")).start()
    yield fake
    fake.stop()


def _routes(api, both_networks_asked: asyncio.Event | None = None):
    names = {}

    async def net_create(req):
        body = await req.json()   # (the fake has recorded the request already)
        if both_networks_asked is not None:
            if sum(r[1] == V + "/networks/create" for r in api.requests) == 2:
                both_networks_asked.set()
            await asyncio.wait_for(both_networks_asked.wait(), 10)   # serial: times out
        return web.json_response({"Id": "net-" + body["Name"]}, status=201)

    async def create(req):
        name = req.query["name"]
        names[name] = True
        api.routes[("POST", f"{V}/containers/id-{name}/start")] = (204, None)
        return web.json_response({"Id": f"id-{name}"}, status=201)

    api.routes[("GET", V + "/images/busybox/json")] = (200, {"Id": "sha256:x"})
    api.routes[("GET", V + "/containers/json")] = (200, [])
    api.routes[("POST", V + "/networks/create")] = net_create
    api.routes[("POST", V + "/containers/create")] = create
    return names


def test_up_asks_once_creates_networks_together_and_starts_in_order(api):
    asked = asyncio.Event()
    _routes(api, asked)
    p = loader.load([str(SEED)], environ={})
    project.Runner(Client(f"unix://{api.sock}"), p, log=lambda m: None).up()
    calls = [(m, path.removeprefix(V)) for m, path, *_ in api.requests]
    assert calls.count(("GET", "/images/busybox/json")) == 1
    assert calls.count(("GET", "/containers/json")) == 1
    assert sorted(r[3]["Name"] for r in api.requests if r[1] == V + "/networks/create") == \
        ["seed_backend", "seed_frontend"]
    lifecycle = [path.rsplit("/", 2)[-2] if path.endswith("/start") else q["name"]
                 for m, path, q, _ in api.requests
                 if path.endswith(("/start", "/containers/create"))]
    assert lifecycle == ["seed-db-1", "id-seed-db-1", "seed-app-1", "id-seed-app-1",
                         "seed-proxy-1", "id-seed-proxy-1"]


def test_a_missing_external_network_fails_before_anything_is_created(api, tmp_path):
    _routes(api)
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  a: {image: busybox, networks: [mine, outside]}\n"
                 "networks:\n  mine: {}\n  outside: {external: true}\n")
    p = loader.load([str(f)], environ={})
    with pytest.raises(ProjectError, match="declared as external, but could not be found"):
        project.Runner(Client(f"unix://{api.sock}"), p, log=lambda m: None).up()
    assert not [r for r in api.requests if r[0] == "POST"]


def test_down_removes_dependents_first_then_the_networks(api):
    labels = lambda s: {"com.docker.compose.project": "seed",   # noqa: E731
                        "com.docker.compose.service": s, "com.docker.compose.container-number": "1"}
    api.routes[("GET", V + "/containers/json")] = (200, [
        {"Id": f"id-{s}", "Names": [f"/seed-{s}-1"], "State": "running", "Labels": labels(s)}
        for s in ("db", "proxy", "app")])
    api.routes[("GET", V + "/networks")] = (200, [{"Name": "seed_backend", "Id": "n1"},
                                                  {"Name": "seed_frontend", "Id": "n2"}])
    for x in ("containers/id-db", "containers/id-app", "containers/id-proxy", "networks/n1",
              "networks/n2"):
        api.routes[("DELETE", f"{V}/{x}")] = (204, None)
    p = loader.load([str(SEED)], environ={})
    r = project.Runner(Client(f"unix://{api.sock}"), p, log=lambda m: None)
    r.stop_timeout = 0
    assert r.down() == []
    gone = [path.removeprefix(V + "/") for m, path, *_ in api.requests if m == "DELETE"]
    assert gone[:3] == ["containers/id-proxy", "containers/id-app", "containers/id-db"]
    assert sorted(gone[3:]) == ["networks/n1", "networks/n2"]
