"""The default gateway per address family (core/endpoints.py gateway_endpoint):
GwPriority, then the gateway bridge last, then the network name, per family as
Docker 29.4 (moby#52328)."""

from __future__ import annotations

from types import SimpleNamespace

from boxnet.core.endpoints import GWBRIDGE_LABEL, EndpointOps
from boxnet.model import Endpoint, Network


def pick(eps, nets, v6=False):
    stub = SimpleNamespace(container_endpoints=lambda cid: eps,
                           networks={n.id: n for n in nets})
    ep = EndpointOps.gateway_endpoint(stub, SimpleNamespace(id="c"), v6)
    return stub.networks[ep.network_id].name if ep else None


def ep(nid, prio=0, gw4="", gw6=""):
    return Endpoint(id="e" + nid, network_id=nid, container_id="c", gw_priority=prio,
                    ipv4="10.0.0.2/24" if gw4 else "", gateway4=gw4,
                    ipv6="fd00::2/64" if gw6 else "", gateway6=gw6)


def test_priority_then_name_per_family():
    nets = [Network(id="b", name="b-v4"), Network(id="a", name="a-ds"),
            Network(id="i", name="aaa-internal", internal=True)]
    eps = [ep("b", 0, gw4="10.0.0.1"), ep("a", 0, gw4="10.1.0.1", gw6="fd00::1"),
           ep("i", 99, gw4="10.2.0.1")]
    assert pick(eps, nets) == "a-ds"                   # same priority: the name sorts first
    eps[0].gw_priority = 5
    assert pick(eps, nets) == "b-v4"                   # IPv4: the higher priority
    assert pick(eps, nets, v6=True) == "a-ds"          # IPv6: the only one that has it
    assert pick([eps[2]], nets) is None                # internal networks give no route


def test_gateway_bridge_after_the_others():
    nets = [Network(id="g", name="docker_gwbridge", labels={GWBRIDGE_LABEL: "true"}),
            Network(id="w", name="web")]
    eps = [ep("g", 0, gw4="172.18.0.1"), ep("w", 0, gw4="10.0.0.1")]
    assert pick(eps, nets) == "web"
    eps[0].gw_priority = 1
    assert pick(eps, nets) == "docker_gwbridge"
