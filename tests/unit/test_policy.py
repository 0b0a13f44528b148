"""Policy parsing, compilation to set elements, the verdict function and the
nft rendering (sans-I/O; the kernel side is tests/integration/test_policy.py)."""

from __future__ import annotations

import pytest

from boxnet.firewall.nft import ruleset
from boxnet.policy.compile import Member, compile_policies
from boxnet.policy.model import PolicyError, parse
from boxnet.policy.verdict import explain


def _m(cid, ip, service="", name=None, project="p"):
    return Member(container_id=cid, name=name or cid, service=service, project=project,
                  network="n", ip=ip)


def test_parse_defaults_and_round_trip():
    p = parse('{"ingress": [{"service": "app", "ports": ["5432", "53/udp", "icmp"]}]}')
    assert p.egress is None
    (r,) = p.ingress
    assert [x.text() for x in r.ports] == ["5432/tcp", "53/udp", "icmp"]
    assert parse(p.to_json()) == p
    assert parse({"egress": []}).egress == ()


@pytest.mark.parametrize("value,words", [
    ({"ingress": [{"service": "a"}, {"service": "a", "ports": ["1/tcp"]}]}, "overlap"),
    ({"ingress": [{"cidr": "10.0.0.0/8"}, {"cidr": "10.1.0.0/16", "ports": ["1/udp"]}]},
     "overlap"),
    ({"ingress": [{"service": "a", "ports": ["80/tcp", "80/tcp"]}]}, "overlapping ports"),
    ({"ingress": [{"service": "a", "ports": ["0"]}]}, "out of range"),
    ({"ingress": [{"service": "a", "ports": ["5/gre"]}]}, "unknown protocol"),
    ({"ingress": [{"cidr": "10.0.0.300/8"}]}, "invalid cidr"),
    ({"ingress": [{}]}, "exactly one peer"),
    ({"ingress": {"service": "a"}}, "must be a list"),
    ([], "must be an object"),
])
def test_bad_policies(value, words):
    with pytest.raises(PolicyError, match=words):
        parse(value)


def test_different_peers_same_port_are_not_an_overlap():
    parse({"ingress": [{"service": "a", "ports": ["80"]}, {"service": "b", "ports": ["80"]}]})


def test_compile_db_app_and_replicas():
    pols = {"db": parse({"ingress": [{"service": "app", "ports": ["5432/tcp"]}]}),
            "app1": parse({"egress": [{"service": "db", "ports": ["5432/tcp"]},
                                      {"cidr": "192.0.2.0/24", "ports": ["443"]}]})}
    members = [_m("db", "10.0.0.2", "db"), _m("app1", "10.0.0.3", "app"),
               _m("app2", "10.0.0.4", "app"), _m("x", "10.0.0.9", "app", project="other")]
    el = compile_policies(pols, members, {})
    assert el.gate_in == {(4, "10.0.0.2")} and el.gate_eg == {(4, "10.0.0.3")}
    assert el.port_in == {(4, "10.0.0.3", "10.0.0.2", "tcp", 5432, 5432),
                          (4, "10.0.0.4", "10.0.0.2", "tcp", 5432, 5432)}  # not x: other project
    assert el.cidr_eg == {(4, "10.0.0.3", "192.0.2.0/24", "tcp", 443, 443)}
    assert explain(el, "10.0.0.4", "10.0.0.2", 5432).allowed
    v = explain(el, "10.0.0.9", "10.0.0.2", 5432)
    assert not v.allowed and "ingress" in v.reason
    v = explain(el, "10.0.0.3", "10.0.0.9", 80)
    assert not v.allowed and "egress" in v.reason
    assert explain(el, "10.0.0.3", "192.0.2.7", 443).allowed
    assert explain(el, "10.0.0.9", "10.0.0.4", 1).reason.startswith("no policy")


def test_names_resolving_to_one_address_merge_their_ports():
    """A container rule and a service rule naming the same endpoint give one
    element per merged range (pipapo refuses some overlapping elements)."""
    pols = {"db": parse({"ingress": [{"service": "app", "ports": ["5000-5500"]},
                                     {"container": "app1", "ports": ["5400-6000"]}]})}
    el = compile_policies(pols, [_m("db", "10.0.0.2"), _m("app1", "10.0.0.3", "app")], {})
    assert el.range_in == {(4, "10.0.0.3", "10.0.0.2", "tcp", 5000, 6000)}
    assert not el.port_in and not el.any_in


def test_network_peers_and_families():
    pols = {"a": parse({"egress": [{"network": "back"}, {"container": "b1"}]})}
    el = compile_policies(pols, [_m("a", "10.0.0.2"), _m("a", "fd00::2")],
                          {"back": ("10.5.0.0/24", "fd00:5::/64")})
    assert (4, "10.0.0.2", "10.5.0.0/24", "icmp", 0, 65535) in el.cidr_eg
    assert (6, "fd00::2", "fd00:5::/64", "ipv6-icmp", 0, 65535) in el.cidr_eg
    assert not any(e[0] == 4 and ":" in e[2] for e in el.cidr_eg)
    el = compile_policies(pols, [_m("a", "10.0.0.2"), _m("b1", "10.0.0.3")], {})
    assert (4, "10.0.0.2", "10.0.0.3", "sctp", 0, 65535) in el.any_eg
    assert explain(el, "10.0.0.2", "10.0.0.3", 9, "udp").allowed


def test_rendering():
    assert "jump allowlist" in ruleset.CHAINS["forward"][1]
    assert "ip daddr vmap @pvin4" in ruleset.CHAINS["allowlist"][1]
    assert "ip6 saddr vmap @pveg6" in ruleset.CHAINS["polhostin"][1]
    assert "ip daddr vmap @pvin4" in ruleset.CHAINS["polhostout"][1]
    # the rest: tests/unit/test_policy_plan.py


def test_keeper_refuses_a_policy_it_cannot_enforce():
    """A policied endpoint on a network the firewall does not filter fails the start."""
    import asyncio
    from types import SimpleNamespace as NS

    from boxnet.core.policykeeper import PolicyKeeper
    from boxnet.errors import InvalidParameter

    fw = NS(filters=lambda nid: nid == "br")
    ep = NS(id="e1", network_id="mv", ipv4="10.0.0.2/24", ipv6="")
    ctl = NS(firewall=fw, networks={"mv": NS(name="lan", id="mv", pools=[])},
             eps_by_container={"c1": {"e1": ep}}, containers={})
    c = NS(id="c1", name="/db", config=NS(labels={"com.boxnet.policy": '{"ingress": []}'}))
    with pytest.raises(InvalidParameter, match="network lan is not filtered"):
        asyncio.run(PolicyKeeper(ctl).sandbox_ready(c))
    c.config.labels = {}
    PolicyKeeper(ctl)._enforceable(c, [ep])     # no policy: nothing to hold
