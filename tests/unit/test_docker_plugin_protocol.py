"""The Docker plugin's wire protocol (plugin/app.py) against a stand-in controller:
the answers dockerd expects, and every refusal as {"Err": ...} with nothing asked of
the controller.  No root needed; the real dockerd is tests/integration/test_docker_plugin.py.
"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from boxnet.drivers.api import HANDOFF_PEER_OPT
from boxnet.errors import Conflict
from boxnet.ipam.api import Pool
from boxnet.model import Endpoint
from boxnet.plugin.app import make_plugin_app


class FakeCtl:
    """Records the calls the app makes."""

    def __init__(self):
        self.calls = []
        self.handed = ""   # the peer a spare pair handed over (core/spares.py)

    async def plugin_request_pool(self, pool, sub_pool, v6):
        self.calls.append(("pool", pool))
        if pool == "10.1.0.0/25":
            raise Conflict("10.1.0.0/25 overlaps 10.1.0.0/24 of network x")
        return Pool(pool_id=pool or "10.9.0.0/24", subnet=pool or "10.9.0.0/24",
                    gateway="10.9.0.1", ip_range=None, aux_addresses={}, user_subnet=False)

    def plugin_request_address(self, pool_id, address):
        self.calls.append(("addr", pool_id, address))
        return address.partition("/")[0] or "10.9.0.2"

    async def create_external_network(self, *args, **kw):
        self.calls.append(("net", args, kw))

    def create_external_endpoint(self, *args):
        self.calls.append(("ep", args))

    def prepare_external_join(self, endpoint_id, peer):
        self.calls.append(("prepare", endpoint_id, peer))

    async def join_external(self, endpoint_id, peer):
        self.calls.append(("join", endpoint_id, peer))
        opts = {HANDOFF_PEER_OPT: self.handed} if self.handed else {}
        return Endpoint(id=endpoint_id, network_id="n", container_id="", gateway4="10.9.0.1",
                        driver_opts=opts)


@pytest.fixture
async def plug():
    ctl = FakeCtl()
    async with TestClient(TestServer(make_plugin_app(ctl))) as c:
        yield c, ctl


async def _post(c, call, body):
    r = await c.post("/" + call, json=body)
    return r.status, await r.json(content_type=None)


async def test_activate_and_capabilities(plug):
    c, _ = plug
    assert await _post(c, "Plugin.Activate", {}) == (
        200, {"Implements": ["NetworkDriver", "IpamDriver"]})
    assert (await _post(c, "NetworkDriver.GetCapabilities", {}))[1]["Scope"] == "local"
    spaces = (await _post(c, "IpamDriver.GetDefaultAddressSpaces", {}))[1]
    assert spaces == {"LocalDefaultAddressSpace": "local", "GlobalDefaultAddressSpace": "global"}


async def test_request_pool_gives_the_gateway_in_data(plug):
    c, _ = plug
    st, body = await _post(c, "IpamDriver.RequestPool", {"AddressSpace": "local", "Pool": "",
                                                          "SubPool": "", "V6": False})
    assert st == 200
    assert body == {"PoolID": "10.9.0.0/24", "Pool": "10.9.0.0/24",
                    "Data": {"com.docker.network.gateway": "10.9.0.1/24"}}
    st, body = await _post(c, "IpamDriver.RequestAddress", {"PoolID": "10.9.0.0/24",
                                                             "Address": ""})
    assert body == {"Address": "10.9.0.2/24", "Data": {}}


async def test_refusals_are_err_and_ask_nothing(plug):
    c, ctl = plug
    st, body = await _post(c, "IpamDriver.RequestPool", {"Pool": "10.1.0.0/25"})
    assert st == 500 and "overlaps" in body["Err"]
    st, body = await _post(c, "IpamDriver.RequestPool", {"Pool": "", "Options": {"x": "1"}})
    assert st == 500 and "IPAM option x" in body["Err"]
    ctl.calls.clear()
    st, body = await _post(c, "NetworkDriver.CreateNetwork", {
        "NetworkID": "n1", "Options": {"com.docker.network.generic": {"com.example.bogus": "1"}},
        "IPv4Data": [{"AddressSpace": "local", "Pool": "10.9.0.0/24",
                      "Gateway": "10.9.0.1/24"}]})
    assert st == 500 and "com.example.bogus" in body["Err"]
    st, body = await _post(c, "NetworkDriver.CreateNetwork", {"Options": {}})
    assert st == 500 and "NetworkID" in body["Err"]
    r = await c.post("/NetworkDriver.Join", data=b"{not json")
    assert r.status == 500 and "bad request" in (await r.json(content_type=None))["Err"]
    assert ctl.calls == []


async def test_create_network_endpoint_join(plug):
    c, ctl = plug
    st, _ = await _post(c, "NetworkDriver.CreateNetwork", {
        "NetworkID": "n1", "Options": {"com.docker.network.enable_ipv6": False,
                                       "com.docker.network.generic": {
                                           "com.docker.network.bridge.enable_icc": "false"}},
        "IPv4Data": [{"AddressSpace": "local", "Pool": "10.9.0.0/24", "Gateway": "10.9.0.1/24"}],
        "IPv6Data": []})
    assert st == 200
    _, args, kw = ctl.calls[-1]
    assert args[0] == "n1" and args[2][0].subnet == "10.9.0.0/24" and \
        args[2][0].gateway == "10.9.0.1"
    assert kw["options"] == {"com.docker.network.bridge.enable_icc": "false"}
    st, body = await _post(c, "NetworkDriver.CreateEndpoint", {
        "NetworkID": "n1", "EndpointID": "e" * 64,
        "Interface": {"Address": "10.9.0.2/24", "AddressIPv6": "", "MacAddress": ""}})
    mac = body["Interface"]["MacAddress"]
    assert int(mac.split(":")[0], 16) & 3 == 2, mac   # locally administered, unicast
    st, body = await _post(c, "NetworkDriver.CreateEndpoint", {
        "NetworkID": "n1", "EndpointID": "f" * 64,
        "Interface": {"Address": "10.9.0.3/24", "MacAddress": "02:00:00:00:00:01"}})
    assert body == {}   # Docker's own MAC: nothing to return (it refuses a second one)
    # plumbing starts at CreateEndpoint, under the name Join hands over
    assert ("prepare", "f" * 64, "vbx" + "f" * 11) in ctl.calls
    st, body = await _post(c, "NetworkDriver.Join", {"NetworkID": "n1", "EndpointID": "e" * 64,
                                                      "SandboxKey": "/x", "Options": {}})
    assert body == {"InterfaceName": {"SrcName": "vbx" + "e" * 11, "DstPrefix": "eth"},
                    "Gateway": "10.9.0.1"}


async def test_join_hands_over_the_spares_peer(plug):
    """A Join whose endpoint was plumbed from a spare pair names the spare's peer
    (the link Docker moves), not the name CreateEndpoint proposed."""
    c, ctl = plug
    ctl.handed = "vbx0123456789a"
    st, body = await _post(c, "NetworkDriver.Join", {"NetworkID": "n1", "EndpointID": "d" * 64,
                                                      "SandboxKey": "/x", "Options": {}})
    assert st == 200 and body["InterfaceName"]["SrcName"] == "vbx0123456789a", body
    assert ("join", "d" * 64, "vbx" + "d" * 11) in ctl.calls
