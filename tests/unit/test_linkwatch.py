"""kernel/linkwatch.py's reading of rtnetlink link events (no kernel needed),
and kernel/announce.py closing its packet socket off the event loop's thread."""

import asyncio
import struct
import threading

from boxnet.kernel import announce, linkwatch

HDR = struct.Struct("=IHHII")
IFI = struct.Struct("=BxHiII")
RTM_NEWLINK = 16


def _msg(kind: int, index: int, attrs: bytes = b"") -> bytes:
    body = IFI.pack(0, 1, index, 0, 0) + attrs
    raw = HDR.pack(HDR.size + len(body), kind, 0, 0, 0) + body
    return raw + b"\0" * (-len(raw) % 4)


def test_dellink_of_the_index_is_found_among_other_events():
    data = _msg(RTM_NEWLINK, 5) + _msg(linkwatch.RTM_DELLINK, 6, b"\x08\0\3\0ab\0\0") \
        + _msg(linkwatch.RTM_DELLINK, 5)
    assert linkwatch.has_dellink(data, 5)
    assert linkwatch.has_dellink(data, 6)


def test_other_links_and_newlink_are_not_an_answer():
    data = _msg(RTM_NEWLINK, 5) + _msg(linkwatch.RTM_DELLINK, 6)
    assert not linkwatch.has_dellink(data, 5)
    assert not linkwatch.has_dellink(b"", 5)
    assert not linkwatch.has_dellink(b"\0" * 40, 5)   # a zero length stops the walk


def test_announce_closes_its_packet_socket_in_another_thread(monkeypatch):
    """Closing an AF_PACKET socket waits for an RCU grace period (8-20 ms):
    in the loop's thread it stalled every request."""
    closed_in, sent = [], []

    class Sock:
        def send(self, p):
            sent.append(p)

        def close(self):
            closed_in.append(threading.get_ident())

    async def fake_run(path, fn, *args):
        return Sock()

    monkeypatch.setattr(announce._netns, "arun_in_netns", fake_run)

    async def main():
        await announce.announce("/x", "eth0", "02:42:ac:11:00:02", ["10.0.0.2/24"], 2, 0.01)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert len(sent) == 2 and len(closed_in) == 2
    assert loop_thread not in closed_in
