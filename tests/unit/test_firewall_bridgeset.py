"""Rendering of the bridge table: IPv6 layer-2 identity of a port (own link-local
from the MAC, NA targets), and the fixed NDP rules."""

from __future__ import annotations

import pytest

from boxnet.firewall.api import FirewallEndpoint
from boxnet.firewall.nft import bridgeset

EP = FirewallEndpoint(endpoint_id="e1", network_id="n1", host_ifname="veth0123456789a",
                      mac="02:42:ac:12:00:02", ipv4="172.18.0.2", ipv6="fd00:1::2")


def test_link_local_is_the_kernels_eui64():
    # the kernel's EUI-64 of 02:42:ac:12:00:02 (U/L bit flipped: 00, ff:fe inserted)
    assert bridgeset.link_local("02:42:ac:12:00:02") == "fe80::42:acff:fe12:2"
    assert bridgeset.link_local("AA:BB:CC:DD:EE:FF") == "fe80::a8bb:ccff:fedd:eeff"
    with pytest.raises(ValueError):
        bridgeset.link_local("02:42:ac")


def test_port_sources_and_na_targets_are_its_own():
    lines = bridgeset.endpoint_elements(EP)
    assert 'add element bridge boxnet ep6 { "veth0123456789a" . fd00:1::2 }' in lines
    assert 'add element bridge boxnet ep6 { "veth0123456789a" . fe80::42:acff:fe12:2 }' in lines
    na = [x for x in lines if " na6 " in x]
    assert na == ['add element bridge boxnet na6 { "veth0123456789a" . '
                  '0xfe80000000000000004' '2acfffe120002, "veth0123456789a" . '
                  '0xfd000001000000000000000000000002 }']


def test_v4_only_port_still_gets_its_link_local():
    ep = FirewallEndpoint(endpoint_id="e2", network_id="n1", host_ifname="veth1",
                          mac="02:00:00:00:00:01", ipv4="10.0.0.2")
    lines = bridgeset.endpoint_elements(ep, "delete")
    assert 'delete element bridge boxnet ep6 { "veth1" . fe80::ff:fe00:1 }' in lines
    assert all(x.startswith("delete element") for x in lines)


def test_ports_are_never_routers():
    rules = bridgeset.BRIDGE_CHAINS["prerouting"][1]
    assert not any("fe80::/10" in r for r in rules)       # no blanket link-local pass
    assert any("nd-router-advert" in r and "nd-redirect" in r and r.endswith("drop")
               for r in rules)
    assert any("nd-neighbor-advert" in r and "@na6" in r for r in rules)


def test_link_local_ips_are_the_ports_own_sources():
    """IPAMConfig.LinkLocalIPs may be sent from (IPv4 and ARP: ep4; IPv6: ep6 and NA
    targets), and go away with the port."""
    ep = FirewallEndpoint(endpoint_id="e3", network_id="n1", host_ifname="veth3",
                          mac="02:00:00:00:00:03", ipv4="10.0.0.3",
                          link_local=("169.254.7.7", "fe80::77"))
    lines = bridgeset.endpoint_elements(ep)
    assert 'add element bridge boxnet ep4 { "veth3" . 10.0.0.3 }' in lines
    assert 'add element bridge boxnet ep4 { "veth3" . 169.254.7.7 }' in lines
    assert 'add element bridge boxnet ep6 { "veth3" . fe80::ff:fe00:3, "veth3" . fe80::77 }' \
        in lines
    assert any(" na6 " in x and "0xfe800000000000000000000000000077" in x for x in lines)
    gone = bridgeset.endpoint_elements(ep, "delete")
    assert 'delete element bridge boxnet ep4 { "veth3" . 169.254.7.7 }' in gone
