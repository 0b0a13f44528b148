"""LanLinks (kernel/links.py) against the real kernel: macvlan links made straight
inside a container netns, marked links, and the kernel's refusals of what it
lacks (ipvlan, 802.1q, dummy here) turned into errors naming the feature."""

import json

import pytest

from boxnet.errors import NotImplementedFeature
from boxnet.kernel import features
from boxnet.kernel.links import MACVLAN_MODES, LanLinks
from boxnet.kernel.netlink import Netlink


def lacks(kind):
    """Skip unless the kernel lacks `kind` (these test the refusal path)."""
    return pytest.mark.skipif(features.probe(kind), reason=f"this kernel has {kind}")


def _parent(sh, host_ns):
    sh(host_ns, "ip", "link", "add", "par0", "type", "veth", "peer", "name", "par1")
    sh(host_ns, "ip", "link", "set", "par0", "up")
    sh(host_ns, "ip", "link", "set", "par1", "up")


def test_macvlan_born_in_the_container_netns(host_ns, make_netns, in_netns, sh):
    """The link appears as eth0 in the container only, with its MAC and address."""
    _parent(sh, host_ns)
    c = make_netns()

    async def body():
        nl = await Netlink.open()
        links = LanLinks(nl)
        try:
            mac = await links.attach("macvlan", "par0", c, "eth0", mode=MACVLAN_MODES["bridge"],
                                     addrs=["10.77.0.5/24", "fd77::5/64"])
            present = await links.present(c, "eth0", "macvlan")
            host_names = {li.name for li in await nl.list_links()}
            await links.detach(c, "eth0")
            await links.detach(c, "eth0")  # idempotent
            gone = not await links.present(c, "eth0", "macvlan")
            return mac, present, host_names, gone
        finally:
            await nl.close()

    mac, present, host_names, gone = in_netns(host_ns, body)
    assert present and gone
    assert "eth0" not in host_names and not any(n.startswith("bxq") for n in host_names)
    first = int(mac[:2], 16)
    assert first & 2 and not first & 1, f"{mac}: not a local unicast MAC"


def test_macvlan_address_and_mode(host_ns, make_netns, in_netns, sh):
    """Addresses, mode and the MAC asked for are what the container sees."""
    _parent(sh, host_ns)
    c = make_netns()

    async def body():
        nl = await Netlink.open()
        try:
            return await LanLinks(nl).attach("macvlan", "par0", c, "eth0",
                                             mode=MACVLAN_MODES["private"],
                                             mac="02:42:c0:a8:00:09", addrs=["10.77.0.9/24"])
        finally:
            await nl.close()

    assert in_netns(host_ns, body) == "02:42:c0:a8:00:09"
    link = json.loads(sh(c, "ip", "-j", "-d", "addr", "show", "eth0"))[0]
    assert link["address"] == "02:42:c0:a8:00:09"
    assert link["linkinfo"]["info_data"]["mode"] == "private"
    assert {"10.77.0.9"} <= {a["local"] for a in link["addr_info"]}
    assert "UP" in link["flags"]


def test_delete_if_owned_spares_unmarked_links(host_ns, in_netns, sh):
    """Only a link carrying the expected ifalias is deleted."""
    _parent(sh, host_ns)
    sh(host_ns, "ip", "link", "set", "par1", "alias", "boxnet:vlan")

    async def body():
        nl = await Netlink.open()
        links = LanLinks(nl)
        try:
            return (await links.delete_if_owned("par0", "boxnet:vlan"),
                    await links.delete_if_owned("par1", "boxnet:dummy"),
                    await links.delete_if_owned("par1", "boxnet:vlan"))
        finally:
            await nl.close()

    # par0 has no alias; par1's alias matches only the second time (deleting the pair).
    assert in_netns(host_ns, body) == (False, False, True)


@lacks("ipvlan")
def test_ipvlan_refusal_names_the_feature(host_ns, make_netns, in_netns, sh):
    """The kernel's "unknown device type" becomes NotImplementedFeature naming ipvlan."""
    _parent(sh, host_ns)
    c = make_netns()

    async def body():
        nl = await Netlink.open()
        links = LanLinks(nl)
        out = []
        try:
            for call in (lambda: links.attach("ipvlan", "par0", c, "eth0", mode=1, flags=0,
                                              addrs=["10.78.0.2/24"]),
                         lambda: links.try_parent("ipvlan", "par0", mode=0)):
                with pytest.raises(NotImplementedFeature) as ei:
                    await call()
                out.append(ei.value.message)
        finally:
            await nl.close()
        return out

    for msg in in_netns(host_ns, body):
        assert "no ipvlan support (module ipvlan" in msg
    assert "eth0" not in sh(c, "ip", "-o", "link")


@lacks("vlan")
@lacks("dummy")
def test_vlan_and_dummy_refusals_name_the_feature(host_ns, in_netns, sh):
    """802.1q and dummy creation fail with the module named; nothing is left."""
    _parent(sh, host_ns)
    before = sh(host_ns, "ip", "-o", "link")

    async def body():
        nl = await Netlink.open()
        links = LanLinks(nl)
        msgs = []
        try:
            for call in (lambda: links.create_vlan("par0.50", "par0", 50, "boxnet:vlan"),
                         lambda: links.create_dummy("dm-x", "boxnet:dummy")):
                with pytest.raises(NotImplementedFeature) as ei:
                    await call()
                msgs.append(ei.value.message)
        finally:
            await nl.close()
        return msgs

    vlan, dummy = in_netns(host_ns, body)
    assert "module 8021q" in vlan and "module dummy" in dummy
    assert sh(host_ns, "ip", "-o", "link") == before


def test_ipvlan_flags_are_encoded():
    """pyroute2 0.9.7 lacks IFLA_IPVLAN_FLAGS; links.py adds it so the flag is sent."""
    from pyroute2.iproute.linux import get_arguments_processor
    req = dict(get_arguments_processor("link", "add", {
        "ifname": "x", "kind": "ipvlan", "link": 3, "ipvlan_mode": 1, "ipvlan_flags": 2}))
    data = dict(req["IFLA_LINKINFO"]["attrs"])["IFLA_INFO_DATA"]["attrs"]
    assert ("IFLA_IPVLAN_MODE", 1) in data and ("IFLA_IPVLAN_FLAGS", 2) in data
