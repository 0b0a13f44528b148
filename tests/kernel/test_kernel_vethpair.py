"""What a restart asks of the kernel about retired links (kernel/linkops.py):
is an endpoint's veth pair whole (``veth_pair_intact``), and are the background
deletions of the start-up done (``settle``).  On the real kernel, in throwaway
netns."""

import asyncio

from boxnet.kernel import linkgc
from boxnet.kernel import netns as kns
from boxnet.kernel.netlink import Netlink

HOST_END, BRIDGE = "vethbxtvp01", "bxtvp0"

# Each state a disconnect cut short by a crash can leave (each end is taken
# down first, then the container's loses its IPv4 and both are renamed):
# (commands in the sandbox, commands on the host).
HALF_RETIRED = {
    "container end down": (["ip link set eth1 down"], []),
    "container end renamed": (["ip link set eth1 down", "ip link set eth1 name bxgc-00aa11bb22"],
                              []),
    "host end down": ([], [f"ip link set {HOST_END} down"]),
    "host end renamed": ([], [f"ip link set {HOST_END} down",
                              f"ip link set {HOST_END} name bxgc-33cc44dd55"]),
}


def test_veth_pair_intact_only_for_a_whole_pair(host_ns, in_netns, sh, tmp_path):
    """True for a pair as attach_veth leaves it; False for every half-retired
    state, for a container end that belongs to another pair, for a missing
    host end and for a missing netns."""
    pin = str(tmp_path / "sandbox")
    kns.create_netns(pin)
    seen = {}

    async def plumb(nl):
        await nl.attach_veth(HOST_END, BRIDGE, pin, "eth1", None, ["10.203.0.2/24"], None)

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge(BRIDGE)
            await plumb(nl)
            seen["whole"] = await nl.veth_pair_intact(HOST_END, pin, "eth1")
            for state, (in_ns, on_host) in HALF_RETIRED.items():
                for cmd in in_ns:
                    sh(pin, "sh", "-c", cmd)
                for cmd in on_host:
                    sh(host_ns, "sh", "-c", cmd)
                seen[state] = await nl.veth_pair_intact(HOST_END, pin, "eth1")
                for li in await nl.list_links():          # the pair goes; plumbed anew
                    if li.name == HOST_END or linkgc.is_garbage(li.name):
                        await nl.delete_link(li.name)
                await plumb(nl)
                seen[f"{state}, plumbed again"] = await nl.veth_pair_intact(HOST_END, pin, "eth1")
            # eth1 in the sandbox is the end of another pair
            await nl.delete_link(HOST_END)
            await nl.attach_veth("vethbxtvp02", BRIDGE, pin, "eth1", None, [], None)
            sh(host_ns, "ip", "link", "add", HOST_END, "type", "veth", "peer", "name", "bxtvpx")
            sh(host_ns, "ip", "link", "set", HOST_END, "up")
            seen["another pair's end"] = await nl.veth_pair_intact(HOST_END, pin, "eth1")
            seen["no host end"] = await nl.veth_pair_intact("vethbxtvp09", pin, "eth1")
            seen["no netns"] = await nl.veth_pair_intact("vethbxtvp02", pin + "-gone", "eth1")
            for name in (HOST_END, "vethbxtvp02", BRIDGE):
                await nl.delete_link(name)
            await nl.forget_netns(pin)
        finally:
            await nl.close()

    try:
        in_netns(host_ns, body)
    finally:
        kns.delete_netns(pin)
    assert seen.pop("whole") is True
    for state in HALF_RETIRED:
        assert seen.pop(f"{state}, plumbed again") is True, state
    assert seen == {k: False for k in seen}, seen
    assert len(seen) == len(HALF_RETIRED) + 3


def test_settle_waits_for_the_pending_deletions(host_ns, in_netns):
    """A retired link is still there right after retire_link (its deletion waits
    for a quiet moment) and gone once settle returns."""
    seen = {}

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtvp1")
            await nl.retire_link("bxtvp1")
            seen["before"] = [li.name for li in await nl.list_links() if linkgc.is_garbage(li.name)]
            await asyncio.wait_for(nl.settle(), 10)
            seen["after"] = [li.name for li in await nl.list_links() if linkgc.is_garbage(li.name)]
            seen["pending"] = nl.gc.pending
        finally:
            await nl.close()

    in_netns(host_ns, body)
    assert len(seen["before"]) == 1, "control: the deletion had not run yet"
    assert seen["after"] == [] and seen["pending"] == 0, seen
