"""Pure rendering of boxnet's nftables tables, and the manager's bookkeeping
(with a fake libnftables): fixed rules, per-object elements, atomicity."""

from __future__ import annotations

import asyncio

import pytest

from boxnet.errors import KernelError
from boxnet.firewall.api import FirewallEndpoint, FirewallNetwork, PublishedPort
from boxnet.firewall.nft import ruleset
from boxnet.firewall.nft.hostcheck import foreign_drop_warnings
from boxnet.firewall.nft.manager import NftFirewall

NET = FirewallNetwork(network_id="a" * 64, bridge="br-aaa",
                      subnets=("172.18.0.0/16", "fd00:1::/64"), icc=False)
INTERNAL = FirewallNetwork(network_id="b" * 64, bridge="br-bbb", subnets=("172.19.0.0/16",),
                           internal=True)
EP = FirewallEndpoint(endpoint_id="e1", network_id="a" * 64, host_ifname="veth0123456789a",
                      mac="02:42:ac:12:00:02", ipv4="172.18.0.2", ipv6="fd00:1::2")


def port(host_port=8080, host_ip="", family=4, proto="tcp", cip="172.18.0.2", cport=80):
    return PublishedPort(container_id="c1", family=family, proto=proto, host_ip=host_ip,
                         host_port=host_port, container_ip=cip, container_port=cport)


def rules_of(lines):
    return [x for x in lines if x.startswith("add rule")]


def test_rules_do_not_grow_with_networks_endpoints_or_ports():
    small = ruleset.full_ruleset([NET]).splitlines()
    nets = [FirewallNetwork(network_id=f"{i:064x}", bridge=f"br-{i:012x}",
                            subnets=(f"10.{i // 256}.{i % 256}.0/24",)) for i in range(100)]
    ports = [port(host_port=10000 + i, cport=i + 1) for i in range(500)]
    big = ruleset.full_ruleset(nets, [EP] * 3, ports).splitlines()
    assert rules_of(small) == rules_of(big)
    assert len(big) - len(rules_of(big)) < len(small) + 100 * 6 + 10  # one command per element group


def test_network_elements_internal_masquerade_icc():
    lines = ruleset.network_elements(NET)
    assert 'add element inet boxnet bridges { "br-aaa" }' in lines
    assert "add element inet boxnet masq4 { 172.18.0.0/16 }" in lines
    assert "add element inet boxnet masq6 { fd00:1::/64 }" in lines
    assert not any(" internal " in x for x in lines)
    inner = ruleset.network_elements(INTERNAL)
    assert 'add element inet boxnet internal { "br-bbb" }' in inner
    assert not any("masq" in x for x in inner)
    nomasq = ruleset.network_elements(FirewallNetwork(network_id="c", bridge="br-c",
                                                      subnets=("10.9.0.0/24",), masquerade=False))
    assert not any("masq" in x for x in nomasq)
    deleted = ruleset.network_elements(NET, "delete")
    assert all(x.startswith("delete element") for x in deleted) and len(deleted) == len(lines)


def test_endpoint_elements_antispoof_and_icc():
    lines = ruleset.endpoint_elements(EP, icc=False)
    assert 'add element bridge boxnet epmac { "veth0123456789a" . 02:42:ac:12:00:02 }' in lines
    assert 'add element bridge boxnet ep4 { "veth0123456789a" . 172.18.0.2 }' in lines
    assert 'add element bridge boxnet ep6 { "veth0123456789a" . fd00:1::2 }' in lines
    assert 'add element bridge boxnet iccports { "veth0123456789a" }' in lines
    assert not any("iccports" in x for x in ruleset.endpoint_elements(EP, icc=True))


def test_port_elements_any_specific_v6_and_delete_keys():
    lines = ruleset.port_elements([port(), port(host_ip="127.0.0.1", proto="udp"),
                                   port(family=6, cip="fd00:1::2")])
    assert "add element inet boxnet pub4any { tcp . 8080 : 172.18.0.2 . 80 }" in lines
    assert "add element inet boxnet pub4 { 127.0.0.1 . udp . 8080 : 172.18.0.2 . 80 }" in lines
    assert "add element inet boxnet pub6any { tcp . 8080 : fd00:1::2 . 80 }" in lines
    assert ruleset.port_elements([port()], "delete") == \
        ["delete element inet boxnet pub4any { tcp . 8080 }"]


def test_every_published_port_has_a_direct_key_routed_ones_open():
    # loopback-published ports too: only trusted interfaces / --allow-direct-routing use them
    assert ruleset.direct_key(port(host_ip="127.0.0.1")) == ("direct", 4, "172.18.0.2", "tcp", 80)
    routed = PublishedPort(container_id="c1", family=6, proto="udp", host_ip="", host_port=0,
                           container_ip="fd00:1::2", container_port=53, mode="routed")
    assert ruleset.direct_key(routed) == ("open", 6, "fd00:1::2", "udp", 53)
    assert ruleset.port_elements([routed]) == []          # routed: no DNAT, host port unused
    assert ruleset.direct_elements([ruleset.direct_key(routed)]) == \
        ["add element inet boxnet open6 { fd00:1::2 . udp . 53 }"]


def test_direct_routing_is_dropped_for_every_port_by_default():
    ingress = ruleset.CHAINS["ingress"][1]
    assert ingress[0] == "ct status dnat accept" and ingress[-1] == "drop"
    # the direct sets are only reached through trusted interfaces or --allow-direct-routing
    assert not any("@direct" in r for r in ingress)
    assert "iifname . oifname @trusted jump direct" in ingress
    assert "oifname @anyiif jump direct" in ingress
    assert ruleset.CHAINS["direct"][1] == [
        "ip daddr . meta l4proto . th dport @direct4 accept",
        "ip6 daddr . meta l4proto . th dport @direct6 accept"]


def test_loopback_destinations_from_other_interfaces_dropped_before_dnat():
    hook, rules = ruleset.CHAINS["rawpre"]
    assert "hook prerouting priority raw" in hook        # before conntrack and dstnat
    assert 'iifname != "lo" ip daddr 127.0.0.0/8 drop' in rules
    assert 'iifname != "lo" ip6 daddr ::1 drop' in rules


def _net(**kw):
    base = dict(network_id="g" * 64, bridge="br-g", subnets=("10.7.0.0/24", "fd00:7::/64"))
    return FirewallNetwork(**{**base, **kw})


def test_gateway_modes_render_into_sets():
    lines = ruleset.network_elements(_net(mode4="routed", mode6="nat-unprotected"))
    assert 'add element inet boxnet routed4 { "br-g" }' in lines
    assert not any("masq4" in x for x in lines)              # routed: no masquerade
    assert "add element inet boxnet masq6 { fd00:7::/64 }" in lines
    assert 'add element inet boxnet unprot6 { "br-g" }' in lines
    nat = ruleset.network_elements(_net())
    assert not any(x.split()[4] in ("routed4", "routed6", "unprot4", "unprot6", "anyiif",
                                    "trusted") for x in nat)
    trusted = ruleset.network_elements(_net(trusted=("eth3", "vxlan.1")), allow_direct=True)
    assert 'add element inet boxnet trusted { "eth3" . "br-g", "vxlan.1" . "br-g" }' in trusted
    assert 'add element inet boxnet anyiif { "br-g" }' in trusted
    # internal networks never open to direct routing, whatever the options say
    inner = ruleset.network_elements(_net(internal=True, mode4="nat-unprotected",
                                          trusted=("eth3",)), allow_direct=True)
    assert not any(x.split()[4] in ("unprot4", "trusted", "anyiif", "masq4") for x in inner)


def test_icc_off_bridge_is_not_accepted_as_br_dot_br():
    assert 'add element inet boxnet samebr { "br-g" . "br-g" }' in ruleset.network_elements(_net())
    assert not any("samebr" in x for x in ruleset.network_elements(_net(icc=False)))
    egress = ruleset.CHAINS["egress"][1]
    assert egress.index("oifname @bridges ct status dnat accept") < egress.index(
        "oifname @bridges drop")


def test_admin_rules_are_put_back_after_the_skeleton():
    admin = "table inet boxnet {\n\tchain admin {\n\t\tip saddr 1.2.3.4 drop\n\t}\n}"
    text = ruleset.full_ruleset([NET], admin_rules=admin)
    assert text.index("delete table inet boxnet") < text.index("ip saddr 1.2.3.4 drop")
    assert "add rule inet boxnet forward jump admin" in text
    first_forward = [x for x in text.splitlines() if x.startswith("add rule inet boxnet forward")]
    assert first_forward[0].endswith("jump admin")


def test_foreign_forward_drop_policy_is_reported():
    listing = {"nftables": [
        {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "hook": "forward",
                   "policy": "drop"}},
        {"chain": {"family": "inet", "table": "boxnet", "name": "forward", "hook": "forward",
                   "policy": "accept"}},
        {"chain": {"family": "inet", "table": "fw", "name": "fwd", "hook": "forward",
                   "policy": "accept"}}]}
    w = foreign_drop_warnings(listing, ["boxnet0"])
    assert len(w) == 1 and "ip filter FORWARD" in w[0] and '"boxnet0"' in w[0]


class FakeNft:
    """Records scripts; fails those containing `fail_on`."""

    def __init__(self):
        self.scripts: list[str] = []
        self.fail_on: str | None = None

    def run(self, script: str) -> str:
        if self.fail_on and self.fail_on in script:
            raise KernelError("nftables refused the change: Error: boom\n" + script)
        if script.startswith("list chain"):
            raise KernelError("no such table")
        self.scripts.append(script)
        return ""

    def run_json(self, cmd: str) -> dict:
        return {"nftables": []}


def test_manager_adds_only_own_elements_and_refcounts_direct(monkeypatch):
    monkeypatch.setattr("boxnet.kernel.sysctl.write_sysctl", lambda *a, **k: None)
    nft = FakeNft()
    fw = NftFirewall(nft)
    asyncio.run(fw.add_network(NET))
    nft.scripts.clear()
    a, b = port(), port(host_ip="198.18.0.1", host_port=9090)
    asyncio.run(fw.add_ports([a, b]))
    assert nft.scripts[-1].count("direct4") == 1  # one shared direct element
    asyncio.run(fw.remove_ports([a]))
    assert "direct4" not in nft.scripts[-1]        # still used by b
    asyncio.run(fw.remove_ports([b]))
    assert "delete element inet boxnet direct4" in nft.scripts[-1]
    assert all("add rule" not in s for s in nft.scripts)


def test_manager_restore_keeps_old_tables_then_renders_everything_at_once(monkeypatch):
    monkeypatch.setattr("boxnet.kernel.sysctl.write_sysctl", lambda *a, **k: None)
    nft = FakeNft()
    fw = NftFirewall(nft)
    asyncio.run(fw.begin_restore())
    asyncio.run(fw.add_network(NET))
    asyncio.run(fw.add_endpoint(EP))
    asyncio.run(fw.add_ports([port()]))
    asyncio.run(fw.reload())
    assert nft.scripts == []                       # nothing touched the kernel meanwhile
    asyncio.run(fw.end_restore())
    assert len(nft.scripts) == 1
    text = nft.scripts[0]
    assert text.index("delete table inet boxnet") < text.index('bridges { "br-aaa" }')
    assert "pub4any { tcp . 8080 : 172.18.0.2 . 80 }" in text and "veth0123456789a" in text
    asyncio.run(fw.add_ports([port(host_port=8081)]))
    assert len(nft.scripts) == 2                   # incremental again afterwards


def test_manager_allow_direct_routing_puts_bridges_in_anyiif(monkeypatch):
    monkeypatch.setattr("boxnet.kernel.sysctl.write_sysctl", lambda *a, **k: None)
    nft = FakeNft()
    asyncio.run(NftFirewall(nft, allow_direct_routing=True).add_network(NET))
    assert 'add element inet boxnet anyiif { "br-aaa" }' in nft.scripts[-1]
    nft2 = FakeNft()
    asyncio.run(NftFirewall(nft2).add_network(NET))
    assert "anyiif {" not in nft2.scripts[-1]


def test_manager_failed_transaction_raises_and_keeps_state(monkeypatch):
    monkeypatch.setattr("boxnet.kernel.sysctl.write_sysctl", lambda *a, **k: None)
    nft = FakeNft()
    fw = NftFirewall(nft)
    asyncio.run(fw.add_network(NET))
    nft.fail_on = "9999"
    with pytest.raises(KernelError, match="boom"):
        asyncio.run(fw.add_ports([port(host_port=9999)]))
    assert fw.published() == []
