"""A disconnect's veth retire on the real kernel (Netlink.retire_veth,
kernel/linkwatch.py): the wait ends on the kernel's RTM_DELLINK broadcast,
and when it ends neither end of the pair is listed any more."""

import json

from boxnet.kernel import linkwatch
from boxnet.kernel.netlink import Netlink


def _names(sh, path):
    return {li["ifname"] for li in json.loads(sh(path, "ip", "-j", "link", "show"))}


def test_retire_veth_ends_on_the_broadcast_with_both_ends_gone(host_ns, make_netns, in_netns,
                                                               sh, monkeypatch):
    """Three connects and retires of the same names: each retire's wait is
    ended by the broadcast (not the lookup fallback), and at that moment the
    host end and the container's eth0 are gone and eth0 is free again."""
    box = make_netns()
    answers, seen = [], []
    real = linkwatch.wait_unlisted

    async def recording(*args, **kw):
        answers.append(await real(*args, **kw))
        return answers[-1]

    monkeypatch.setattr(linkwatch, "wait_unlisted", recording)

    async def body():
        nl = await Netlink.open()
        try:
            await nl.ensure_bridge("bxtlw0")
            for i in range(3):
                await nl.attach_veth("vethbxtlw0", "bxtlw0", box, "eth0", None,
                                     [f"10.203.0.{i + 2}/24"], None)
                await nl.retire_veth("vethbxtlw0", box, "eth0")
                seen.append((_names(sh, host_ns), _names(sh, box)))
            await nl.retire_veth("vethbxtlw0", box, "eth0")   # idempotent: nothing to wait for
            await nl.gc.drain()
        finally:
            await nl.close()

    in_netns(host_ns, body)
    assert answers == [True, True, True], answers
    for host_links, box_links in seen:
        assert "vethbxtlw0" not in host_links
        assert "eth0" not in box_links


def test_an_overflowed_watch_is_not_taken_for_an_answer(host_ns, in_netns):
    """ENOBUFS (events lost) answers False: the caller looks the link up itself."""
    import asyncio
    import errno

    class Overflowed:
        def fileno(self):
            return self._r

        def __init__(self):
            import os
            self._r, self._w = os.pipe()
            os.write(self._w, b"x")   # readable at once

        def recv(self, n):
            raise OSError(errno.ENOBUFS, "No buffer space available")

    async def body():
        never = asyncio.get_running_loop().create_future()
        return await linkwatch.wait_unlisted(Overflowed(), 7, never, timeout=2)

    assert in_netns(host_ns, body) is False
