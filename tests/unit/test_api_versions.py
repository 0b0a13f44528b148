"""Issue 18 item 7: API versions 1.24 to 1.52 with dockerd's negotiation rules
(api/versions.py) and each version's shapes (api/compat/). No root: the app is
built with a stand-in controller and the routes that need none (_ping,
/version) are called through aiohttp's test client; the compat tables are
called directly."""

from __future__ import annotations

import pytest
from aiohttp import web
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


# ---- the compat tables (api/compat/) ------------------------------------------------

import json  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from boxnet.api import compat  # noqa: E402
from boxnet.errors import InvalidParameter  # noqa: E402

BRIDGE_EP = {"EndpointID": "e1", "Gateway": "172.17.0.1", "IPAddress": "172.17.0.2",
             "IPPrefixLen": 16, "IPv6Gateway": "", "GlobalIPv6Address": "",
             "GlobalIPv6PrefixLen": 0, "MacAddress": "02:42:ac:11:00:02", "Aliases": None}


def _inspect_doc(networks: dict) -> dict:
    return {"Id": "0123456789abcdef" * 4, "Config": {"Hostname": "box", "Image": "busybox"},
            "HostConfig": {"NetworkMode": "bridge"},
            "NetworkSettings": {"SandboxID": "s", "SandboxKey": "/k", "Ports": {},
                                "Networks": json.loads(json.dumps(networks))}}


def _cont(mode: str, macs: dict) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(network_mode=mode),
                           networks={nid: SimpleNamespace(mac=m) for nid, m in macs.items()})


NETS = {"nid-bridge": SimpleNamespace(name="bridge", id="nid-bridge"),
        "abc123": SimpleNamespace(name="front", id="abc123")}


def test_inspect_1_52_has_no_top_level_address_fields():
    doc = compat.response(_Req("1.52"), "container.inspect", _inspect_doc({"bridge": BRIDGE_EP}),
                          container=_cont("default", {"nid-bridge": "02:00:00:00:00:01"}),
                          networks=NETS)
    assert set(doc["NetworkSettings"]) == {"SandboxID", "SandboxKey", "Ports", "Networks"}
    assert "MacAddress" not in doc["Config"] and "KernelMemoryTCP" not in doc["HostConfig"]


@pytest.mark.parametrize("v", ["1.24", "1.41", "1.43", "1.44", "1.50", "1.51"])
def test_inspect_before_1_52_shows_the_bridge_fields_and_config_mac(v):
    doc = compat.response(_Req(v), "container.inspect", _inspect_doc({"bridge": BRIDGE_EP}),
                          container=_cont("default", {"nid-bridge": "02:00:00:00:00:01"}),
                          networks=NETS)
    ns = doc["NetworkSettings"]
    for k in ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
        assert ns[k] == BRIDGE_EP[k]
    assert ns["Bridge"] == "" and ns["HairpinMode"] is False and ns["SecondaryIPAddresses"] is None
    assert doc["Config"]["MacAddress"] == "02:00:00:00:00:01"
    assert doc["HostConfig"]["KernelMemoryTCP"] == 0


def test_inspect_off_bridge_gets_empty_legacy_fields_and_no_mac_unless_asked():
    doc = compat.response(_Req("1.43"), "container.inspect",
                          _inspect_doc({"front": dict(BRIDGE_EP, Aliases=["web"])}),
                          container=_cont("front", {"abc123": ""}), networks=NETS)
    ns = doc["NetworkSettings"]
    assert (ns["IPAddress"], ns["MacAddress"], ns["IPPrefixLen"]) == ("", "", 0)
    assert "MacAddress" not in doc["Config"]
    # before 1.45 a user-defined network's aliases carry the short id and hostname
    assert ns["Networks"]["front"]["Aliases"] == ["web", "0123456789ab", "box"]
    doc = compat.response(_Req("1.45"), "container.inspect",
                          _inspect_doc({"front": dict(BRIDGE_EP, Aliases=["web"])}),
                          container=_cont("front", {"abc123": ""}), networks=NETS)
    assert doc["NetworkSettings"]["Networks"]["front"]["Aliases"] == ["web"]


def test_list_health_from_1_52():
    items = [{"Id": "a", "Health": {"Status": "none", "FailingStreak": 0}}]
    assert compat.response(_Req("1.52"), "container.list", items)[0]["Health"]["Status"] == "none"
    assert "Health" not in compat.response(_Req("1.51"), "container.list", items)[0]


def _create(v: str, doc: dict) -> dict:
    return json.loads(compat.request_body(_Req(v), "container.create", json.dumps(doc).encode()))


def test_create_several_networks_refused_before_1_44():
    doc = {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"a": {}, "b": {}}}}
    with pytest.raises(InvalidParameter) as err:
        _create("1.43", doc)
    assert err.value.message == "Container cannot be created with multiple network endpoints: a, b"
    assert _create("1.44", doc) == doc


def test_create_fields_of_later_versions_dropped():
    doc = {"Image": "busybox", "Healthcheck": {"Test": ["NONE"], "StartInterval": 5},
           "HostConfig": {"AutoRemove": True, "Annotations": {"a": "b"}},
           "NetworkingConfig": {"EndpointsConfig": {"n": {"GwPriority": 7}}}}
    old = _create("1.24", doc)
    assert old["HostConfig"] == {"AutoRemove": False}
    assert "StartInterval" not in old["Healthcheck"]
    assert old["NetworkingConfig"]["EndpointsConfig"]["n"] == {}
    assert _create("1.47", doc)["NetworkingConfig"]["EndpointsConfig"]["n"] == {}
    assert _create("1.48", doc)["NetworkingConfig"]["EndpointsConfig"]["n"] == {"GwPriority": 7}
    body = json.dumps(doc).encode()   # the newest version: the very same bytes
    assert compat.request_body(_Req("1.52"), "container.create", body) is body


def test_create_refusals_with_dockerd_words():
    sub = {"Image": "b", "HostConfig": {"Mounts": [{"Type": "volume", "Source": "v", "Target": "/d",
                                                    "VolumeOptions": {"Subpath": "x"}}]}}
    with pytest.raises(InvalidParameter, match="VolumeOptions.Subpath needs API v1.45 or newer"):
        _create("1.44", sub)
    img = {"Image": "b", "HostConfig": {"Mounts": [{"Type": "image", "Source": "i", "Target": "/i"}]}}
    with pytest.raises(InvalidParameter, match='Mount type "Image" needs API v1.48 or newer'):
        _create("1.47", img)


def test_network_create_and_inspect():
    body = json.dumps({"Name": "n", "EnableIPv4": False}).encode()
    assert "EnableIPv4" not in json.loads(compat.request_body(_Req("1.47"), "network.create", body))
    assert json.loads(compat.request_body(_Req("1.48"), "network.create", body))["EnableIPv4"] is False
    nw = {"Name": "n", "Status": {"IPAM": {"Subnets": {}}}}
    assert "Status" in compat.response(_Req("1.52"), "network.inspect", dict(nw))
    assert "Status" not in compat.response(_Req("1.51"), "network.inspect", dict(nw))


def test_every_rule_names_a_served_version():
    for version, kind, what in compat.changes():
        assert versions.out_of_range(version) is None and what, (version, kind)


# ---- boxnet's own client negotiates as the docker CLI (client/engine.py) -------------

from boxnet.cli.main import main  # noqa: E402
from boxnet.client import engine  # noqa: E402
from fake_docker_api import FakeDocker  # noqa: E402


@pytest.fixture
def fake(tmp_path, monkeypatch):
    sock = str(tmp_path / "d.sock")
    f = FakeDocker(sock).start()
    monkeypatch.setenv("BOXNET_HOST", f"unix://{sock}")
    monkeypatch.delenv("BOXNET_API_VERSION", raising=False)
    yield f
    f.stop()


def _run(capfd, *args):
    try:
        main(list(args))
    except SystemExit:
        pass
    return capfd.readouterr()


@pytest.mark.parametrize("server,want", [("1.52", "1.52"), ("1.41", "1.41"), ("1.60", "1.52"),
                                         (None, "1.24")])
def test_negotiated(server, want):
    assert engine.negotiated(server) == want


def test_cli_speaks_the_lower_version(fake, capfd):
    fake.api_version = "1.41"
    fake.routes[("GET", "/v1.41/networks")] = (200, [])
    fake.routes[("GET", "/v1.41/version")] = (200, {"Version": "x", "ApiVersion": "1.41",
                                                    "MinAPIVersion": "1.12"})
    _run(capfd, "network", "ls")
    assert [r[1] for r in fake.requests] == ["/v1.41/networks"]
    out = _run(capfd, "version").out
    assert "API version:       1.41 (downgraded from 1.52)\n" in out, out


def test_pinned_version_skips_the_ping(fake, capfd, monkeypatch):
    monkeypatch.setenv("BOXNET_API_VERSION", "1.44")
    fake.routes[("GET", "/_ping")] = (500, {"message": "must not be called"})
    fake.routes[("GET", "/v1.44/networks")] = (200, [])
    _run(capfd, "network", "ls")
    assert [r[1] for r in fake.requests] == ["/v1.44/networks"]


def test_events_legacy_fields_before_1_52():
    msg = {"Type": "container", "Action": "start",
           "Actor": {"ID": "c1", "Attributes": {"image": "busybox", "name": "x"}}}
    old = compat.response(_Req("1.51"), "event", dict(msg))
    assert (old["status"], old["id"], old["from"]) == ("start", "c1", "busybox")
    assert not {"status", "id", "from"} & set(compat.response(_Req("1.52"), "event", dict(msg)))
    net = compat.response(_Req("1.41"), "event", {"Type": "network", "Action": "create",
                                                  "Actor": {"ID": "n", "Attributes": {}}})
    assert "status" not in net


@pytest.fixture
async def echo():
    """An app with boxnet's version and query middlewares whose routes echo the
    query they are handed."""
    from boxnet.api.compat.queries import QUERY_SINCE, query_middleware
    app = web.Application(middlewares=[versions.version_middleware, query_middleware])

    async def handler(request):
        return web.json_response(dict(request.query))
    for method, path, _, _ in QUERY_SINCE:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, r"/v{version:[0-9.]+}" + path, handler)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.parametrize("method,path,want", [
    ("POST", "/v1.41/containers/x/stop?t=1&signal=SIGINT", {"t": "1"}),
    ("POST", "/v1.42/containers/x/stop?t=1&signal=SIGINT", {"t": "1", "signal": "SIGINT"}),
    ("POST", "/containers/x/restart?signal=SIGINT", {"signal": "SIGINT"}),
    ("POST", "/v1.41/containers/x/restart?signal=SIGINT", {}),
    ("POST", "/v1.29/containers/x/wait?condition=removed", {}),
    ("POST", "/v1.30/containers/x/wait?condition=removed", {"condition": "removed"}),
    ("GET", "/v1.40/containers/x/stats?one-shot=1&stream=0", {"stream": "0"}),
    ("POST", "/v1.40/containers/create?name=a&platform=linux", {"name": "a"}),
])
async def test_query_parameters_of_later_versions_dropped(echo, method, path, want):
    resp = await echo.request(method, path)
    assert resp.status == 200 and await resp.json() == want


def test_docs_table_lists_every_rule():
    from pathlib import Path
    from boxnet.api.compat.queries import QUERY_SINCE
    doc = (Path(__file__).resolve().parents[2] / "docs" / "api-versions.md").read_text()
    for version, kind, what in compat.changes():
        assert f"| before {version} |" in doc and what in doc, (version, kind, what)
    for method, path, version, q in QUERY_SINCE:
        assert f"`{method} {path}` (query) | `{q}`" in doc


def test_eth0_sysctls_move_to_the_endpoint_before_1_48():
    doc = {"Image": "b", "HostConfig": {"NetworkMode": "front", "Sysctls": {
        "net.ipv4.conf.eth0.log_martians": "1", "net.ipv4.ip_unprivileged_port_start": "900"}},
        "NetworkingConfig": {"EndpointsConfig": {"front": {"DriverOpts": {
            "com.docker.network.endpoint.sysctls": "net.ipv6.conf.IFNAME.mtu=1400"}}}}}
    old = _create("1.47", doc)
    assert old["HostConfig"]["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "900"}
    assert old["NetworkingConfig"]["EndpointsConfig"]["front"]["DriverOpts"] == {
        "com.docker.network.endpoint.sysctls":
            "net.ipv4.conf.IFNAME.log_martians=1,net.ipv6.conf.IFNAME.mtu=1400"}
    assert _create("1.48", doc) == doc
    bridge = _create("1.46", {"Image": "b", "HostConfig": {"Sysctls": {
        "net.ipv4.conf.eth0.forwarding": "0"}}})
    assert bridge["NetworkingConfig"]["EndpointsConfig"]["bridge"]["DriverOpts"] == {
        "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.forwarding=0"}
    with pytest.raises(InvalidParameter, match="unable to determine network endpoint for "
                                               "sysctl net.ipv4.conf.eth1.forwarding"):
        _create("1.47", {"Image": "b", "HostConfig": {"Sysctls": {
            "net.ipv4.conf.eth1.forwarding": "0"}}})


def test_network_list_containers_before_1_28():
    items = [{"Id": "n1", "Containers": {}}]
    got = compat.response(_Req("1.27"), "network.list", [dict(i) for i in items],
                          containers_of=lambda nid: {"c1": {"Name": "a"}})
    assert got[0]["Containers"] == {"c1": {"Name": "a"}}
    assert compat.response(_Req("1.28"), "network.list", [dict(i) for i in items],
                           containers_of=lambda nid: 1 / 0)[0]["Containers"] == {}
