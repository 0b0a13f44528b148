"""Bridge options that shape the firewall: gateway modes, trusted host
interfaces, inhibit_ipv4, and the 400s for bad, unknown or unimplemented
options (nothing is accepted and ignored)."""

from __future__ import annotations

import pytest

from boxnet.drivers.bridge import options
from boxnet.drivers.bridge.driver import firewall_entry, gateway_cidrs
from boxnet.errors import InvalidParameter
from boxnet.model import Network
from boxnet.model import IpamPool

GW4, GW6 = options.OPT_GW_MODE[4], options.OPT_GW_MODE[6]


def net(opts=None, internal=False, v6=True, predefined=False) -> Network:
    pools = [IpamPool(subnet="10.9.0.0/24", gateway="10.9.0.1")]
    if v6:
        pools.append(IpamPool(subnet="fd00:9::/64", gateway="fd00:9::1"))
    return Network(id="n" * 64, name="n", driver="bridge", internal=internal,
                   enable_ipv6=v6, options=dict(opts or {}), pools=pools, predefined=predefined)


def test_modes_and_trusted_reach_the_firewall_entry():
    e = firewall_entry(net({GW4: "routed", GW6: "nat-unprotected",
                            options.OPT_TRUSTED: "eth3:vxlan.1"}))
    assert (e.mode4, e.mode6, e.trusted) == ("routed", "nat-unprotected", ("eth3", "vxlan.1"))
    d = firewall_entry(net())
    assert (d.mode4, d.mode6, d.trusted) == ("nat", "nat", ())


def test_isolated_and_inhibit_keep_addresses_off_the_bridge():
    assert gateway_cidrs(net()) == ["10.9.0.1/24", "fd00:9::1/64"]
    assert gateway_cidrs(net({GW4: "isolated", GW6: "isolated"}, internal=True)) == []
    assert gateway_cidrs(net({GW6: "isolated"}, internal=True)) == ["10.9.0.1/24"]
    assert gateway_cidrs(net({options.OPT_INHIBIT4: "true"})) == ["fd00:9::1/64"]


@pytest.mark.parametrize("opts,internal,word", [
    ({GW4: "bogus"}, False, GW4),
    ({GW6: "NAT"}, False, GW6),
    ({GW4: "isolated"}, False, "--internal"),
    ({options.OPT_TRUSTED: "eth0:no/slash"}, False, options.OPT_TRUSTED),
    ({options.OPT_INHIBIT4: "maybe"}, False, options.OPT_INHIBIT4),
    ({"com.docker.network.bridge.enable_icc_": "false"}, False, "enable_icc_"),
    ({options.OPT_IFACE_PREFIX: "9bad"}, False, options.OPT_IFACE_PREFIX),
    ({options.OPT_IFACE_PREFIX: "waytoolongprefix"}, False, options.OPT_IFACE_PREFIX),
    ({options.OPT_DEFAULT: "true"}, False, options.OPT_DEFAULT),
])
def test_bad_unknown_and_unimplemented_options_are_refused(opts, internal, word):
    with pytest.raises(InvalidParameter, match=word.replace(".", r"\.")):
        options.validate(net(opts, internal=internal))


def test_every_documented_docker_bridge_option_is_known():
    documented = {"name", "enable_ip_masquerade", "enable_icc", "host_binding_ipv4",
                  "gateway_mode_ipv4", "gateway_mode_ipv6", "inhibit_ipv4",
                  "trusted_host_interfaces", "default_bridge"}
    assert {options.BRIDGE_PREFIX + k for k in documented} <= options.KNOWN
    options.validate(net({GW4: "isolated", GW6: "routed"}, internal=True))
    options.validate(net({options.OPT_DEFAULT: "true"}, predefined=True))
    options.validate(net({options.OPT_IFACE_PREFIX: "lan"}))
