"""Kernel feature probes (facts of this VM: no ipvlan, dummy or 802.1q)."""

import pytest

from boxnet.kernel import features


def test_present_kinds():
    for kind in ("bridge", "veth", "macvlan", "vxlan"):
        assert features.probe(kind), features.missing_reason(kind)
        assert features.missing_reason(kind) == ""


@pytest.mark.parametrize("kind,module", [("ipvlan", "ipvlan"), ("dummy", "dummy"), ("vlan", "8021q")])
def test_absent_kinds_on_this_vm(kind, module):
    assert features.probe(kind) is False
    reason = features.missing_reason(kind)
    assert f"no {kind} support" in reason and f"module {module}" in reason


def test_unknown_kind():
    with pytest.raises(ValueError):
        features.probe("wireguard-ish")


def test_probes_leave_the_callers_netns_alone(host_ns, in_netns, sh):
    features._results.clear()  # force a real probe
    before = sh(host_ns, "ip", "-o", "link")
    in_netns(host_ns, lambda: (features.probe("veth"), features.probe_nftables()))
    assert sh(host_ns, "ip", "-o", "link") == before
    assert sh(host_ns, "nft", "list", "ruleset") == ""


def test_nftables():
    assert features.probe_nftables()
    assert features.nftables_missing_reason() == ""
