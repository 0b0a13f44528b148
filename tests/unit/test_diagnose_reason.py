"""diagnose/reason.py and the target grammar of gather.py: causes, order, fixes, verdicts."""

from __future__ import annotations

import pytest

from boxnet.diagnose.gather import parse_target
from boxnet.diagnose.reason import Facts, Net, findings, verdict
from boxnet.errors import InvalidParameter


def _facts(**kw) -> Facts:
    base = dict(a="app", b="db", target_ip="10.0.0.3", port=5432, proto="tcp",
                b_container="db", a_nets=[Net("n1")], shared=[Net("n1")], b_nets=["n1"],
                bound=["0.0.0.0"], by_name=True)
    base.update(kw)
    return Facts(**base)


def _causes(f):
    return [x.cause for x in findings(f)]


def test_clean_path_has_no_cause_and_reaches():
    f = _facts()
    assert findings(f) == []
    assert verdict(True, f, []) == (True, "app reaches db")


def test_each_cause():
    assert _causes(_facts(shared=[], name_resolves=False, bound=None)) == \
        ["no-shared-network", "name-not-in-scope"]
    assert findings(_facts(shared=[], b_nets=["back"]))[0].fix == "boxnet network connect back app"
    assert _causes(_facts(shared=[Net("bridge", dns=False)], name_resolves=False)) == \
        ["name-not-in-scope"]
    assert _causes(_facts(shared=[Net("n1", icc=False)])) == ["icc-off"]
    assert _causes(_facts(policy_allowed=False, policy_reason="denied")) == ["policy"]
    assert _causes(_facts(bound=[])) == ["not-listening"]
    assert _causes(_facts(bound=["127.0.0.1"])) == ["bound-elsewhere"]
    assert _causes(_facts(bound=["10.0.0.3"])) == []
    assert _causes(_facts(b_running=False)) == ["not-running"]


def test_outside_address_internal_beats_foreign_table():
    f = _facts(b_container="", by_name=False, shared=[], bound=None, b="198.18.0.2",
               a_nets=[Net("n1", internal=True)], foreign=["chain x drops. Fix: nft insert"])
    assert _causes(f) == ["internal"]
    f.a_nets = [Net("n1")]
    found = findings(f)
    assert [x.cause for x in found] == ["foreign-table"] and found[0].fix == "nft insert"


def test_verdict_name_not_resolvable_fails_even_when_the_address_answers():
    f = _facts(shared=[Net("bridge", dns=False)], name_resolves=False)
    ok, line = verdict(True, f, findings(f))
    assert not ok and "by the name db" in line
    ok, line = verdict(False, _facts(), [])
    assert not ok and "no known cause" in line


@pytest.mark.parametrize("spec,want", [
    ("db", ("db", 0, "icmp")), ("db:80", ("db", 80, "tcp")), ("db:53/udp", ("db", 53, "udp")),
    ("10.0.0.1", ("10.0.0.1", 0, "icmp")), ("[fd00::1]:80", ("fd00::1", 80, "tcp")),
    ("fd00::1", ("fd00::1", 0, "icmp")), ("db/icmp", ("db", 0, "icmp"))])
def test_parse_target(spec, want):
    assert parse_target(spec) == want


@pytest.mark.parametrize("spec", ["db:0", "db:70000", "db:x", "db:1/sctp", ":80"])
def test_parse_target_refuses(spec):
    with pytest.raises(InvalidParameter):
        parse_target(spec)


def test_mtu_mismatch():
    f = _facts(a_mtu=1500, b_mtu=1300)
    found = findings(f)
    assert [x.cause for x in found] == ["mtu-mismatch"]
    assert "mtu=1300" in found[0].fix and "app's interface has 1500" in found[0].detail
    ok, line = verdict(True, f, found)
    assert not ok and "up to 1300 bytes" in line
    assert findings(_facts(a_mtu=1500, b_mtu=1500)) == []


def test_mtu_mismatch_across_hosts():
    """B on another host: b_mtu is what the DF probes found the path carries."""
    f = _facts(a_mtu=1450, b_mtu=1350, remote=True, shared=[Net("ov", driver="overlay")],
               bound=None)
    found = findings(f)
    assert [x.cause for x in found] == ["mtu-mismatch"]
    assert "across hosts" in found[0].detail and "at most 1350" in found[0].detail
    assert found[0].fix.startswith(
        "boxnet network create -d overlay -o com.docker.network.driver.mtu=1350 ")
    assert not verdict(True, f, found)[0]
    # the path carries all of A's packets (or was not probed): no cause
    assert findings(_facts(a_mtu=1450, b_mtu=1450, remote=True, bound=None)) == []
    assert findings(_facts(a_mtu=1450, b_mtu=0, remote=True, bound=None)) == []
