"""Announce an endpoint's addresses when it comes up: gratuitous ARP (IPv4)
and unsolicited neighbour advertisements (IPv6), as Docker 28 does, so that
neighbours holding a stale entry for a reused address learn the new MAC at
once instead of after their neighbour cache times out.

The frames are built here and sent on an AF_PACKET socket made inside the
container's netns (a socket belongs to the netns of the thread that creates
it; kernel/netns.py). The kernel's own `arp_notify`/`ndisc_notify` would send
one announcement at link-up, but at that moment the bridge port of a new
veth is often not forwarding yet (its carrier change is processed by the
kernel's linkwatch later), so that single frame is lost; like dockerd
(advertise_addr_nmsgs, advertise_addr_ms: 3, 1 s apart by default) a few are
sent, spaced apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct

from boxnet.errors import BoxnetError
from boxnet.kernel import netns as _netns

log = logging.getLogger(__name__)

ETH_P_ARP, ETH_P_IPV6 = 0x0806, 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES = ipaddress.IPv6Address("ff02::1")
ALL_NODES_MAC = bytes.fromhex("333300000001")
NA_OVERRIDE = 0x20000000


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def garp_frame(mac: str, ip: str) -> bytes:
    """An Ethernet broadcast gratuitous ARP request for `ip` from `mac`
    (sender and target protocol address both `ip`, as Linux's arp_notify)."""
    hw, addr = _mac(mac), ipaddress.IPv4Address(ip).packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, hw, addr, b"\0" * 6, addr)
    return BROADCAST + hw + struct.pack("!H", ETH_P_ARP) + arp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def na_frame(mac: str, ip: str) -> bytes:
    """An unsolicited neighbour advertisement for `ip` to all nodes (ff02::1),
    Override set, with the target link-layer address option (RFC 4861 7.2.6)."""
    hw = _mac(mac)
    src = ipaddress.IPv6Address(ip).packed
    body = struct.pack("!I16sBB6s", NA_OVERRIDE, src, 2, 1, hw)
    icmp = struct.pack("!BBH", 136, 0, 0) + body
    pseudo = src + ALL_NODES.packed + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + struct.pack("!H", _checksum(pseudo + icmp)) + icmp[4:]
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(icmp), 58, 255, src, ALL_NODES.packed)
    return ALL_NODES_MAC + hw + struct.pack("!H", ETH_P_IPV6) + ip6 + icmp


def frames(mac: str, addrs: list[str]) -> list[bytes]:
    """The announcements of `addrs` ("ip/prefix" or plain, either family)."""
    out = []
    for a in addrs:
        ip = ipaddress.ip_interface(a).ip
        out.append(garp_frame(mac, str(ip)) if ip.version == 4 else na_frame(mac, str(ip)))
    return out


def _open(ifname: str) -> socket.socket:
    """Runs in a thread inside the netns: a raw packet socket bound to ifname."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.bind((ifname, 0))
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


async def announce(netns_path: str, ifname: str, mac: str, addrs: list[str],
                   count: int = 3, interval: float = 1.0) -> None:
    """Send `count` rounds of announcements of `addrs` on `ifname` in the
    netns, `interval` seconds apart. Each round opens its own socket and
    closes it at once: a socket pins its netns, and a container removed
    between rounds must not have its netns (and the veth in it) kept alive.
    Best effort: a netns or link gone meanwhile ends it quietly; other
    errors are logged."""
    if not mac or not addrs or count <= 0:
        return
    packets = frames(mac, addrs)
    for i in range(count):
        if i:
            await asyncio.sleep(interval)
        try:
            sock = await _netns.arun_in_netns(netns_path, _open, ifname)
        except (OSError, BoxnetError) as e:   # the container went, or its link did
            log.debug("address announcement on %s in %s ends: %s", ifname, netns_path, e)
            return
        try:
            for p in packets:
                sock.send(p)
        except OSError as e:
            log.info("address announcement on %s in %s stopped: %s", ifname, netns_path, e)
            return
        finally:
            # In a thread: closing an AF_PACKET socket waits for an RCU grace
            # period (packet_release's synchronize_net, 8-20 ms here), which in
            # the loop's thread stalled every request for that long.
            await asyncio.to_thread(sock.close)
