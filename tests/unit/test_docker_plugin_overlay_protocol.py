"""The ``boxnet-overlay`` socket (plugin/overlay.py) and the cluster names resolver
(plugin/names.py) against stand-ins: scope, refusals as {"Err": ...} with nothing
asked of the controller, the names answered.  The real thing with two dockerds:
tests/integration/test_docker_plugin_overlay.py.
"""

from __future__ import annotations

import dns.message
import dns.rcode
import pytest
from aiohttp.test_utils import TestClient, TestServer

from boxnet.model import Endpoint, Network
from boxnet.plugin.app import make_plugin_app
from boxnet.plugin.names import ClusterNames
from boxnet.plugin.overlay import ADDRESS_SPACE, OverlayHandlers


class FakeCtl:
    """Records the calls the app makes."""

    def __init__(self):
        self.calls = []

    async def overlay_request_pool(self, pool, sub_pool, v6):
        self.calls.append(("pool", pool))
        return pool or "10.0.3.0/24", "10.0.3.1"

    async def create_external_overlay(self, *args, **kw):
        self.calls.append(("net", args, kw))

    async def create_external_overlay_endpoint(self, *args):
        self.calls.append(("ep", args))


@pytest.fixture
async def plug():
    ctl = FakeCtl()
    async with TestClient(TestServer(make_plugin_app(ctl, handlers=OverlayHandlers(ctl)))) as c:
        yield c, ctl


async def _post(c, call, body):
    r = await c.post("/" + call, json=body)
    return r.status, await r.json(content_type=None)


def _net(pool="10.0.3.0/24", space=ADDRESS_SPACE, **generic):
    return {"NetworkID": "d" * 64, "Options": {"com.docker.network.generic": generic},
            "IPv4Data": [{"AddressSpace": space, "Pool": pool, "Gateway": "10.0.3.1/24"}]}


async def test_scope_local_and_own_address_space(plug):
    c, _ = plug
    assert await _post(c, "NetworkDriver.GetCapabilities", {}) == (
        200, {"Scope": "local", "ConnectivityScope": "global"})
    st, body = await _post(c, "IpamDriver.GetDefaultAddressSpaces", {})
    assert body["LocalDefaultAddressSpace"] == ADDRESS_SPACE
    st, body = await _post(c, "IpamDriver.RequestPool", {"Pool": ""})
    assert body == {"PoolID": "10.0.3.0/24", "Pool": "10.0.3.0/24",
                    "Data": {"com.docker.network.gateway": "10.0.3.1/24"}}


async def test_create_network_passes_name_and_refuses_the_rest(plug):
    c, ctl = plug
    assert await _post(c, "NetworkDriver.CreateNetwork",
                       _net(**{"com.boxnet.overlay.name": "web"})) == (200, {})
    assert ctl.calls[-1][1] == ("d" * 64, "10.0.3.0/24", "10.0.3.1", "web")
    ctl.calls.clear()
    for body, word in ((_net(**{"com.example.x": "1"}), "com.example.x"),
                       (_net(space="LocalDefault"), "--ipam-driver boxnet-overlay"),
                       ({**_net(), "IPv6Data": [{"Pool": "fd00::/64"}]}, "IPv6")):
        st, out = await _post(c, "NetworkDriver.CreateNetwork", body)
        assert st == 500 and word in out["Err"], out
    st, out = await _post(c, "IpamDriver.RequestPool", {"Pool": "10.0.3.0/24",
                                                        "Options": {"x": "1"}})
    assert st == 500 and "IPAM option x" in out["Err"]
    assert not ctl.calls


async def test_endpoint_names_option_and_refusals(plug):
    c, ctl = plug
    ep = {"NetworkID": "d" * 64, "EndpointID": "e" * 64,
          "Interface": {"Address": "10.0.3.2/24"},
          "Options": {"com.boxnet.dns.names": "Api, api2",
                      "com.docker.network.portmap": []}}
    st, out = await _post(c, "NetworkDriver.CreateEndpoint", ep)
    assert st == 200 and out["Interface"]["MacAddress"]
    assert ctl.calls[-1][1][-1] == ["api", "api2"]
    ctl.calls.clear()
    for opts, word in (({"com.example.y": "1"}, "com.example.y"),
                       ({"com.boxnet.dns.names": "bad name"}, "not a DNS label")):
        st, out = await _post(c, "NetworkDriver.CreateEndpoint", {**ep, "Options": opts})
        assert st == 500 and word in out["Err"], out
    st, out = await _post(c, "NetworkDriver.ProgramExternalConnectivity", {
        "NetworkID": "d", "EndpointID": "e",
        "Options": {"com.docker.network.portmap": [{"Proto": 6, "Port": 80, "HostPort": 8080}]}})
    assert st == 500 and "published ports" in out["Err"]
    assert not ctl.calls


class NamesCtl:
    """Networks and endpoints as the resolver reads them."""

    class config:
        dns = ["192.0.2.53"]
        dns_timeout = 1.0

    def __init__(self):
        ov = Network(id="o" * 64, name="web", driver="overlay", scope="global", created="")
        br = Network(id="b" * 64, name="lan", driver="bridge", scope="local", created="")
        self.networks = {ov.id: ov, br.id: br}
        self.endpoints = {"e1": Endpoint(id="e1", network_id=ov.id, container_id="",
                                         ipv4="10.0.3.2/24", dns_names=["api"]),
                          "e2": Endpoint(id="e2", network_id=br.id, container_id="c",
                                         ipv4="172.20.0.2/16", dns_names=["lan1"])}
        self.remote = [Endpoint(id="e3", network_id=ov.id, container_id="x",
                                ipv4="10.0.3.3/24", dns_names=["front"])]

    def remote_endpoints(self):
        return self.remote, {}

    def network_has(self, nw, ability):
        return nw.driver == "overlay"


def test_cluster_names_answer_overlay_names_only():
    names = ClusterNames(NamesCtl())
    assert names.lookup("api") == ["10.0.3.2"]
    assert names.lookup("front.web") == ["10.0.3.3"]      # another host's, qualified
    assert names.lookup("lan1") is None                  # not an overlay's: forwarded
    q = dns.message.make_query("FRONT", "A")
    r = names.answer(q)
    assert r.rcode() == dns.rcode.NOERROR and [x.to_text() for x in r.answer[0]] == ["10.0.3.3"]
    r = names.answer(dns.message.make_query("front", "AAAA"))
    assert r.rcode() == dns.rcode.NOERROR and not r.answer   # the name exists, no IPv6
    assert names.answer(dns.message.make_query("example.org", "A")) is None


async def test_the_bridge_driver_refuses_the_overlay_ipams_pools():
    """`docker network create -d boxnet --ipam-driver boxnet-overlay` is refused at create,
    naming the fix (it was created and every `docker run` on it then failed)."""
    ctl = FakeCtl()
    async with TestClient(TestServer(make_plugin_app(ctl, driver="boxnet"))) as c:
        st, out = await _post(c, "NetworkDriver.CreateNetwork", _net())
    assert st == 500 and "--ipam-driver boxnet or Docker's default" in out["Err"], out
    assert not ctl.calls
