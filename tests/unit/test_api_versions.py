"""Issue 18 item 7: API versions 1.24 to 1.52 with dockerd's negotiation rules
(api/versions.py) and each version's shapes (api/compat/). No root: the app is
built with a stand-in controller and the routes that need none (_ping,
/version) are called through aiohttp's test client; the compat tables are
called directly."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from boxnet import API_VERSION, MIN_API_VERSION
from boxnet.api import server, versions

TOO_OLD = ("client version {} is too old. Minimum supported API version is 1.24, "
           "please upgrade your client to a newer version")
TOO_NEW = "client version {} is too new. Maximum supported API version is 1.52"


def test_advertised_range():
    assert (API_VERSION, MIN_API_VERSION) == ("1.52", "1.24")
    assert versions.MIN_VERSION == (1, 24) and versions.MAX_VERSION == (1, 52)


@pytest.mark.parametrize("a,b,want", [
    ("1.24", "1.24", 0), ("1.9", "1.24", -1), ("1.52.0", "1.52", 0), ("1.52.1", "1.52", 1),
    ("2", "1.52", 1), ("1", "1.24", -1), ("1.x", "1.0", 0), ((1, 44), "1.43", 1)])
def test_compare_as_go(a, b, want):
    assert versions.compare(a, b) == want


@pytest.mark.parametrize("v,message", [
    ("1.23", TOO_OLD.format("1.23")), ("1.12", TOO_OLD.format("1.12")),
    ("1", TOO_OLD.format("1")), ("0.1", TOO_OLD.format("0.1")),
    ("1.53", TOO_NEW.format("1.53")), ("1.52.1", TOO_NEW.format("1.52.1")),
    ("9999.9999", TOO_NEW.format("9999.9999")),
    ("1.24", None), ("1.41", None), ("1.52", None), ("1.44.0", None)])
def test_out_of_range_words(v, message):
    assert versions.out_of_range(v) == message


@pytest.fixture
async def client():
    app = server.make_app(None)   # _ping and /version never touch the controller
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.parametrize("path", ["/v1.23/version", "/v1.53/_ping", "/v1/containers/json",
                                  "/v1.12/networks/create"])
async def test_out_of_range_is_400_with_dockerd_headers(client, path):
    raw = path.split("/")[1][1:]
    method = "POST" if path.endswith("create") else "GET"
    resp = await client.request(method, path)
    assert resp.status == 400
    body = await resp.json()
    assert body == {"message": versions.out_of_range(raw)} and body["message"]
    assert resp.headers["Api-Version"] == "1.52" and resp.headers["Ostype"] == "linux"


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.41", "/v1.44", "/v1.52"])
async def test_ping_and_version_in_range(client, prefix):
    resp = await client.get(prefix + "/_ping")
    assert resp.status == 200 and await resp.text() == "OK"
    h = resp.headers
    assert (h["Api-Version"], h["Ostype"], h["Docker-Experimental"], h["Swarm"]) == \
        ("1.52", "linux", "false", "inactive")
    assert h["Cache-Control"] == "no-cache, no-store, must-revalidate"
    head = await client.head(prefix + "/_ping")
    assert head.status == 200 and head.headers["Api-Version"] == "1.52"
    doc = await (await client.get(prefix + "/version")).json()
    assert (doc["ApiVersion"], doc["MinAPIVersion"]) == ("1.52", "1.24")
    engine = doc["Components"][0]["Details"]
    assert (engine["ApiVersion"], engine["MinAPIVersion"]) == ("1.52", "1.24")


class _Req(dict):
    """What request_version reads of a request."""

    def __init__(self, version: str | None):
        super().__init__()
        self.match_info = {"version": version} if version else {}


@pytest.mark.parametrize("raw,want", [(None, (1, 52)), ("1.24", (1, 24)), ("1.44", (1, 44)),
                                      ("1.44.3", (1, 44))])
def test_request_version(raw, want):
    req = _Req(raw)
    assert versions.request_version(req) == want
    assert versions.older(req, "1.45") == (want < (1, 45))
    assert versions.at_least(req, "1.44") == (want >= (1, 44))
