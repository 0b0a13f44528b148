"""Late netlink replies are not kept (kernel/nlqueue.py): the daemon's long-lived
handles no longer grow with every lookup, creation and change."""

from pyroute2 import AsyncIPRoute

from boxnet.kernel.netlink import Netlink


def _stray(ipr) -> int:
    """Messages waiting in a handle's root queue (tag 0): nobody reads them."""
    return ipr.msg_queue.queues[0].qsize()


def test_daemon_handles_keep_no_late_replies(host_ns, make_netns, in_netns):
    """200 lookups and bridge set-ups on the host handle and on a container netns handle:
    nothing is left in either root queue."""
    inner = make_netns()

    async def body():
        nl = await Netlink.open()
        try:
            for i in range(20):
                await nl.ensure_bridge(f"bxq{i}", addrs=[f"10.77.{i}.1/24"])
            for _ in range(200):
                assert await nl.link_exists("bxq0")
                assert await nl.link_alias("bxq0") is not None
                assert await nl.link_exists("lo", netns=inner)
            return _stray(nl._host), _stray(await nl.handle(inner))
        finally:
            await nl.close()

    assert in_netns(host_ns, body) == (0, 0)


def test_plain_pyroute2_handle_keeps_them(host_ns, in_netns):
    """The quirk worked around: the same lookups on a plain handle pile up one late ACK
    each.  If this fails, pyroute2 no longer keeps them and kernel/nlqueue.py can go."""

    async def body():
        ipr = AsyncIPRoute(nlm_echo=True, ext_ack=True)
        await ipr.setup_endpoint()
        try:
            for _ in range(50):
                await ipr.link("get", ifname="lo")
            return _stray(ipr)
        finally:
            ipr.close()

    assert in_netns(host_ns, body) >= 40   # the last ACKs may still be in the socket
