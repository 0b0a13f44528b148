"""SNAT source (host_ipv4/host_ipv6) and isolate=strict: option checks
(drivers/bridge/egress.py) and the nftables elements and rules they render."""

from __future__ import annotations

import asyncio

import pytest

from boxnet.drivers.bridge import egress, options
from boxnet.drivers.bridge.driver import BridgeDriver, firewall_entry
from boxnet.errors import InvalidParameter
from boxnet.firewall.api import FirewallNetwork
from boxnet.firewall.nft import ruleset
from boxnet.model import IpamPool, Network

H4, H6, ISO = egress.OPT_HOST_SNAT[4], egress.OPT_HOST_SNAT[6], options.OPT_ISOLATE


def net(opts=None, internal=False, v6=True, v4=True) -> Network:
    pools = [IpamPool(subnet="10.9.0.0/24", gateway="10.9.0.1")] if v4 else []
    if v6:
        pools.append(IpamPool(subnet="fd00:9::/64", gateway="fd00:9::1"))
    return Network(id="n" * 64, name="n", driver="bridge", internal=internal,
                   enable_ipv4=v4, enable_ipv6=v6, options=dict(opts or {}), pools=pools)


def check(nw: Network) -> None:
    options.validate(nw)
    egress.validate(nw)


def test_snat_and_strict_reach_the_firewall_entry():
    e = firewall_entry(net({H4: "198.18.0.1", H6: "FD99:0::1", ISO: "strict"}))
    assert (e.snat4, e.snat6, e.strict) == ("198.18.0.1", "fd99::1", True)
    d = firewall_entry(net())
    assert (d.snat4, d.snat6, d.strict) == ("", "", False)


@pytest.mark.parametrize("opts,v6,internal,words", [
    ({H4: "fd00::1"}, True, False, "not an IPv4 address"),
    ({H6: "10.0.0.1"}, True, False, "not an IPv6 address"),
    ({H4: "nope"}, True, False, "not an IPv4 address"),
    ({H4: "0.0.0.0"}, True, False, "not a unicast"),
    ({H4: "127.0.0.1"}, True, False, "not a unicast"),
    ({H6: "fd99::1"}, False, False, "needs IPv6"),
    ({H4: "198.18.0.1"}, True, True, "internal"),
    ({H4: "198.18.0.1", options.OPT_MASQ: "false"}, True, False, "enable_ip_masquerade"),
    ({H6: "fd99::1", options.OPT_GW_MODE[6]: "routed"}, True, False, "is routed"),
    ({ISO: "true"}, True, False, "expected strict"),
    ({ISO: "Strict"}, True, False, "expected strict"),
])
def test_bad_values_are_400_naming_the_option(opts, v6, internal, words):
    with pytest.raises(InvalidParameter) as e:
        check(net(opts, internal=internal, v6=v6))
    assert words in e.value.message
    assert any(k in e.value.message for k in opts)


def test_v4_snat_on_an_ipv6_only_network_is_refused():
    with pytest.raises(InvalidParameter, match="needs IPv4"):
        check(net({H4: "198.18.0.1"}, v4=False))


def test_strict_and_snat_are_known_bridge_options():
    check(net({ISO: "strict", H4: "198.18.0.1", H6: "fd99::1"}))
    check(net({ISO: ""}))


class _NL:
    def __init__(self, addrs):
        self.addrs = set(addrs)

    async def host_has_address(self, ip):
        return ip in self.addrs


def test_snat_address_must_be_on_the_host():
    nw = net({H4: "198.18.0.1", H6: "fd99::1"})
    asyncio.run(egress.check_on_host(_NL({"198.18.0.1", "fd99::1"}), nw))
    with pytest.raises(InvalidParameter, match=f"{H6} fd99::1: not an address of this host"):
        asyncio.run(egress.check_on_host(_NL({"198.18.0.1"}), nw))


def test_a_refused_address_creates_nothing():
    made = []

    class NL(_NL):
        async def link_exists(self, name):
            return False

        async def ensure_bridge(self, *a, **kw):
            made.append(a)

    drv = BridgeDriver(NL(set()), firewall=None)
    with pytest.raises(InvalidParameter):
        asyncio.run(drv.create_network(net({H4: "198.18.0.1"})))
    assert made == []


SNAT = FirewallNetwork(network_id="a", bridge="br-a", subnets=("10.1.0.0/24", "fd00:1::/64"),
                       snat4="198.18.0.1", snat6="fd99::1", strict=True)


def test_snat_replaces_masquerade_for_that_family_only():
    lines = ruleset.network_elements(SNAT)
    assert "add element inet boxnet snat4 { 10.1.0.0/24 : 198.18.0.1 }" in lines
    assert "add element inet boxnet snat6 { fd00:1::/64 : fd99::1 }" in lines
    assert not any(" masq" in x for x in lines)
    half = ruleset.network_elements(FirewallNetwork(network_id="a", bridge="br-a",
                                                    subnets=("10.1.0.0/24", "fd00:1::/64"),
                                                    snat4="198.18.0.1"))
    assert "add element inet boxnet masq6 { fd00:1::/64 }" in half
    assert not any("masq4" in x or "snat6" in x for x in half)
    deleted = ruleset.network_elements(SNAT, "delete")
    assert "delete element inet boxnet snat4 { 10.1.0.0/24 }" in deleted
    assert len(deleted) == len(lines)


def test_strict_elements_and_rule_order():
    lines = ruleset.network_elements(SNAT)
    assert 'add element inet boxnet strict { "br-a" }' in lines
    assert 'add element inet boxnet selfbr { "br-a" . "br-a" }' in lines
    egress_rules = ruleset.CHAINS["egress"][1]
    drop = egress_rules.index("iifname @strict oifname @bridges iifname . oifname != @selfbr drop")
    assert drop < egress_rules.index("oifname @bridges ct status dnat accept")
    post = ruleset.CHAINS["postrouting"][1]
    assert post.index("oifname != @bridges snat ip to ip saddr map @snat4") < \
        post.index("oifname != @bridges ip saddr @masq4 masquerade")
    plain = ruleset.network_elements(FirewallNetwork(network_id="b", bridge="br-b"))
    assert not any("strict" in x or "selfbr" in x for x in plain)


def test_overlay_refuses_the_bridge_only_options():
    from boxnet.drivers.overlay.driver import OverlayDriver
    for key, val in ((H4, "198.18.0.1"), (H6, "fd99::1"), (ISO, "strict")):
        nw = Network(id="o" * 64, name="o", driver="overlay", options={key: val})
        with pytest.raises(InvalidParameter, match=f"{key} is not supported by the overlay"):
            OverlayDriver.validate_options(object.__new__(OverlayDriver), nw)


def test_macvlan_refuses_the_bridge_only_options():
    from boxnet.drivers.lan.macvlan import MacvlanDriver
    drv = object.__new__(MacvlanDriver)
    for key, val in ((H4, "198.18.0.1"), (ISO, "strict")):
        nw = Network(id="m" * 64, name="m", driver="macvlan",
                     options={"parent": "eth9", key: val})
        with pytest.raises(InvalidParameter, match=f"{key} is not supported by the macvlan"):
            drv.validate_options(nw)
