"""The shared in-netns link set-up (kernel/nsplumb.py) on the real kernel: both
of its users (veth and macvlan attaches) leave nothing behind when a step fails."""

import json

import pytest

from boxnet.errors import InvalidParameter, KernelError
from boxnet.kernel import nsplumb
from boxnet.kernel.links import MACVLAN_MODES, LanLinks
from boxnet.kernel.netlink import Netlink


def _names(sh, path):
    return sorted(li["ifname"] for li in json.loads(sh(path, "ip", "-j", "link", "show")))


def test_macvlan_attach_rolls_back_after_the_link_exists(host_ns, make_netns, in_netns, sh):
    """A bad address fails after the link was born in the container: it is removed
    again, and lo (brought up in the same batch) is the only link left."""
    sh(host_ns, "ip", "link", "add", "par0", "type", "veth", "peer", "name", "par1")
    sh(host_ns, "ip", "link", "set", "par0", "up")
    c = make_netns()

    async def body():
        nl = await Netlink.open()
        links = LanLinks(nl)
        try:
            with pytest.raises(KernelError, match="cannot configure eth0"):
                await links.attach("macvlan", "par0", c, "eth0", mode=MACVLAN_MODES["bridge"],
                                   addrs=["10.78.0.5/99"])
            with pytest.raises(InvalidParameter, match="parent interface nopar"):
                await links.attach("macvlan", "nopar", c, "eth1", mode=MACVLAN_MODES["bridge"])
            # and a working one afterwards, under the same name
            return await links.attach("macvlan", "par0", c, "eth0", mode=MACVLAN_MODES["bridge"],
                                      addrs=["10.78.0.5/24"])
        finally:
            await nl.close()

    mac = in_netns(host_ns, body)
    assert _names(sh, c) == ["eth0", "lo"]
    link = json.loads(sh(c, "ip", "-j", "addr", "show", "eth0"))[0]
    assert link["address"] == mac and "UP" in link["flags"]
    assert "par0" in _names(sh, host_ns) and "eth0" not in _names(sh, host_ns)


def test_failing_extra_step_removes_the_link(host_ns, make_netns, in_netns, sh):
    """A failure in the work sent along (a veth's host-end settings) undoes the link,
    and the error names the interface and the netns."""
    c = make_netns()

    async def body():
        nl = await Netlink.open()
        host = await nl.handle()
        try:
            async def create(fd):
                await host.link("add", ifname="vbxn0", kind="veth",
                                peer={"ifname": "eth0", "net_ns_fd": fd})
                return None

            async def boom():
                raise OSError("host end refused")

            async def undo():
                await nl.delete_link("vbxn0")

            with pytest.raises(KernelError, match=f"cannot configure eth0 in {c}"):
                await nsplumb.plumb_into_netns(nl, c, "eth0", create, ["10.79.0.2/24"],
                                               undo=undo, extra=lambda idx: [boom()])
            with pytest.raises(KernelError, match="cannot open network namespace"):
                await nsplumb.plumb_into_netns(nl, c + "-missing", "eth0", create, [],
                                               undo=undo)
        finally:
            await nl.close()

    in_netns(host_ns, body)
    assert _names(sh, c) == ["lo"]
    assert "vbxn0" not in _names(sh, host_ns)
