"""drivers/lan/: the parent option, the parent registry's conflict rules, and the
base class's contract (pure logic; the kernel side is tests/kernel/test_kernel_links.py
and the integration tests of macvlan/ipvlan)."""

import pytest

from boxnet.errors import Conflict, InvalidParameter
from boxnet.drivers.lan import IpvlanDriver, LanDriver, MacvlanDriver
from boxnet.drivers.lan.parents import Claim, LanParents, parent_spec
from boxnet.model import Network


def _nw(nid="n" * 64, internal=False, **opts):
    return Network(id=nid, name="net-" + nid[:3], driver="macvlan", internal=internal,
                   options=opts)


def test_parent_spec_reads_parent_vlan_and_internal():
    assert parent_spec(_nw(parent="eth1")).name == "eth1"
    vlan = parent_spec(_nw(parent="eth1.50"))
    assert (vlan.name, vlan.vlan_base, vlan.vlan_id, vlan.dummy) == ("eth1.50", "eth1", 50, False)
    assert parent_spec(_nw()).dummy and parent_spec(_nw()).name == "dm-" + "n" * 12
    assert parent_spec(_nw(internal=True, parent="eth1")).dummy
    with pytest.raises(InvalidParameter, match="1-4094"):
        parent_spec(_nw(parent="eth1.4095"))
    with pytest.raises(InvalidParameter, match="at most 15"):
        parent_spec(_nw(parent="a" * 16))


def test_one_parent_carries_one_driver_and_compatible_modes():
    parents = LanParents(links=None)
    spec = parent_spec(_nw(parent="eth1"))
    mac, ipv = MacvlanDriver(parents), IpvlanDriver(parents)
    parents._claims["eth1"] = {"a": Claim("a", "first", "macvlan", "bridge")}
    with pytest.raises(Conflict, match="either macvlan or ipvlan"):
        parents.check(spec, Claim("b", "second", "ipvlan", "l2", "bridge"), ipv.conflict)
    with pytest.raises(Conflict, match="passthru"):
        parents.check(spec, Claim("b", "second", "macvlan", "passthru"), mac.conflict)
    parents.check(spec, Claim("b", "second", "macvlan", "vepa"), mac.conflict)  # fine
    parents.check(spec, Claim("a", "first", "macvlan", "passthru"), mac.conflict)  # itself
    parents._claims["eth1"] = {"a": Claim("a", "first", "ipvlan", "l2", "bridge")}
    with pytest.raises(Conflict, match="same ipvlan_mode"):
        parents.check(spec, Claim("b", "second", "ipvlan", "l3", "bridge"), ipv.conflict)


def test_a_lan_driver_must_define_its_modes_and_rules():
    class Half(LanDriver):
        name = kind = "half"

        def modes(self, nw):
            return "bridge", ""

    with pytest.raises(TypeError, match="kernel_mode"):
        Half(LanParents(links=None))


def test_ipvlan_refuses_the_macvlan_only_option():
    drv = IpvlanDriver(LanParents(links=None))
    with pytest.raises(InvalidParameter, match="macvlan option"):
        drv.validate_extra(_nw(**{"boxnet.host_access": "true"}), parent_spec(_nw()), "l2")
