"""Item 8 of issue 16: every endpoint the spec documents is routed or answers 501
naming it; an undocumented path stays a 404.  No root needed: the app is built with
a stand-in controller and requests are sent through aiohttp's test client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
import yarl
from aiohttp.test_utils import TestClient, TestServer

from boxnet.api import server
from boxnet.api.routes import unimplemented
from boxnet.api.spec_endpoints import SPEC_ENDPOINTS

SPEC = Path("/work/shared/specs/docker-engine-api-v1.50.yaml")
if not SPEC.exists():
    SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / SPEC.name


def _spec_pairs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(SPEC.read_text())
    return [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops
            if m in ("get", "post", "put", "delete", "head", "patch")]


@pytest.mark.skipif(not SPEC.exists(), reason="the Engine API spec is not on this machine")
def test_the_checked_in_table_is_the_spec():
    assert list(SPEC_ENDPOINTS) == _spec_pairs()


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "x1", path)


@pytest.fixture
async def client():
    app = server.make_app(None)   # handlers that are not called never touch it
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_every_documented_endpoint_is_routed_or_501(client):
    app = client.server.app
    unrouted = set(unimplemented.missing(app.router))
    assert not unrouted, "add_missing left these unrouted"
    for method, path in SPEC_ENDPOINTS:
        for prefix in ("", "/v1.50"):
            match = await app.router.resolve(_Req(method, prefix + _concrete(path)))
            assert match.http_exception is None, (method, prefix + path, match.http_exception)


class _Req:
    """What UrlDispatcher.resolve reads of a request."""

    def __init__(self, method: str, path: str):
        self.method, self.rel_url = method, yarl.URL(path)
        self.url = self.rel_url
        self.path = path


@pytest.mark.parametrize("method,path", [("POST", "/build"), ("GET", "/plugins"),
                                         ("POST", "/plugins/pull"),
                                         ("GET", "/distribution/x1/json")])
async def test_unimplemented_answer_501_naming_the_endpoint(client, method, path):
    for prefix in ("", "/v1.44"):
        resp = await client.request(method, prefix + path)
        assert resp.status == 501, (method, prefix + path, resp.status)
        body = await resp.json()
        template = next(p for m, p in SPEC_ENDPOINTS if m == method and _concrete(p) == path)
        assert body["message"].startswith(f"{method} {template} is not implemented by boxnet")


async def test_swarm_keeps_its_answer(client):
    resp = await client.get("/swarm")
    assert resp.status == 503
    assert "not part of a swarm" in (await resp.json())["message"]


async def test_an_unknown_path_stays_404(client):
    for path in ("/no/such/endpoint", "/v1.50/containers/x1/nonsense", "/buildx"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert "page not found" in (await resp.json())["message"]
