"""Spare veth pairs of the Docker plugin (kernel/spareveth.py) on the real kernel, in
throwaway netns: a spare is inert until taken, a taken spare is a working bridge port
whose peer carries the endpoint's MAC, and every failure leaves nothing behind."""

import pytest

from boxnet.errors import KernelError
from boxnet.kernel import brport
from boxnet.kernel import netns as kns
from boxnet.kernel.netlink import Netlink
from boxnet.kernel.spareveth import SPARE_KIND, SPARE_NAME, spare_names

BRIDGE, OWNER = "bxtsp0", "bxtsp"


def _links(nl_links):
    return {li.name: li for li in nl_links}


def test_a_spare_is_inert_and_taking_it_makes_a_working_port(host_ns, in_netns, sh, ping,
                                                             tmp_path):
    """Two spares made on a bridge are down, marked ``spare`` and bridge ports; taken,
    each host end has the endpoint's name, is up and marked ``veth``, the peer has the
    MAC given; moved into two sandboxes with addresses, the peers ping each other."""
    pins = [str(tmp_path / f"sb{i}") for i in range(2)]
    for pin in pins:
        kns.create_netns(pin)
    seen = {}
    macs = ["02:42:0a:cc:00:02", "02:42:0a:cc:00:03"]

    async def body():
        nl = await Netlink.open(owner=OWNER)
        try:
            await nl.ensure_bridge(BRIDGE)
            spares = []
            for _ in range(2):
                host, peer = spare_names()
                await nl.make_spare_veth(host, peer, BRIDGE, None,
                                         port_setup=brport.port_setup([]))
                spares.append((host, peer))
            links = _links(await nl.list_links())
            seen["spares"] = [(links[h], links[p]) for h, p in spares]
            for i, (host, peer) in enumerate(spares):
                await nl.take_spare_veth(host, f"vethbxtsp{i:02d}", peer, macs[i], BRIDGE,
                                         port_setup=brport.port_setup([f"10.204.0.{i + 2}"],
                                                                      hairpin=False))
            links = _links(await nl.list_links())
            seen["taken"] = [(links.get(f"vethbxtsp{i:02d}"), links.get(p))
                             for i, (_, p) in enumerate(spares)]
            seen["left"] = [n for n in links if SPARE_NAME.match(n)]
            seen["peers"] = [p for _, p in spares]
        finally:
            await nl.close()

    try:
        in_netns(host_ns, body)
        for (host, peer) in seen["spares"]:
            assert SPARE_NAME.match(host.name) and peer.name.startswith("vbx")
            assert host.master == BRIDGE and host.operstate == "DOWN", host
            assert host.alias == f"boxnet:{OWNER}:{SPARE_KIND}", host.alias
            assert peer.operstate == "DOWN" and peer.master is None, peer
        for i, (host, peer) in enumerate(seen["taken"]):
            assert host is not None and peer is not None, seen["taken"]
            assert host.master == BRIDGE and host.alias == f"boxnet:{OWNER}:veth", host
            assert peer.mac == macs[i], peer
        assert seen["left"] == [], "the spares' names stayed behind"
        sh(host_ns, "ip", "link", "set", BRIDGE, "up")
        for i, (pin, peer) in enumerate(zip(pins, seen["peers"])):
            sh(host_ns, "ip", "link", "set", peer, "netns", pin)
            sh(pin, "ip", "link", "set", peer, "name", "eth0")
            sh(pin, "ip", "addr", "add", f"10.204.0.{i + 2}/24", "dev", "eth0")
            sh(pin, "ip", "link", "set", "eth0", "up")
        assert ping(pins[0], "10.204.0.3"), "the taken spares do not carry traffic"
        assert "02:42:0a:cc:00:03" in sh(pins[0], "ip", "neigh", "show", "10.204.0.3")
    finally:
        for pin in pins:
            kns.delete_netns(pin)


@pytest.mark.parametrize("gone", ["bridge", "spare"])
def test_a_failed_take_leaves_nothing(host_ns, in_netns, gone):
    """Taking a spare whose bridge or whose pair went raises KernelError and deletes
    whatever was left of the pair; making one on a missing bridge makes nothing."""
    seen = {}

    async def body():
        nl = await Netlink.open(owner=OWNER)
        try:
            await nl.ensure_bridge(BRIDGE)
            host, peer = spare_names()
            await nl.make_spare_veth(host, peer, BRIDGE, 1400)
            seen["mtu"] = _links(await nl.list_links())[peer].mtu
            await nl.delete_link(BRIDGE if gone == "bridge" else host)
            with pytest.raises(KernelError):
                await nl.take_spare_veth(host, "vethbxtsp09", peer, "02:42:0a:cc:00:09", BRIDGE)
            with pytest.raises(KernelError):
                await nl.make_spare_veth(*spare_names(), "bxtspnone", None)
            seen["left"] = [li.name for li in await nl.list_links()
                            if li.name[:3] in ("vbs", "vbx") or li.name == "vethbxtsp09"]
            if gone == "spare":
                await nl.delete_link(BRIDGE)
        finally:
            await nl.close()

    in_netns(host_ns, body)
    assert seen["mtu"] == 1400
    assert seen["left"] == [], seen
