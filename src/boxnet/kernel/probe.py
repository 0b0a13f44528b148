"""Reachability probes made from inside a container's netns, for `network diagnose`.

A socket belongs for its whole life to the netns of the thread that made it,
so each probe makes its socket on netns.py's worker thread (a short job: the
worker is shared and must never block) and then does the slow part (connect,
wait for an answer) on the event loop, with a deadline.  Listening sockets are
read from /proc/thread-self/net/{tcp,tcp6,udp,udp6} on the worker: /proc/net
is /proc/self/net, the netns of the *process*, whereas thread-self is the
netns the worker thread has just entered.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import ipaddress
import os
import socket
import struct
import time

from .netns import arun_in_netns

LISTEN = "0A"       # TCP_LISTEN in /proc/net/tcp's st column


def _make(fam: int, kind: int, proto: int = 0) -> socket.socket:
    s = socket.socket(fam, kind, proto)
    s.setblocking(False)
    return s


async def _socket_in(netns: str, fam: int, kind: int, proto: int = 0) -> socket.socket:
    return await arun_in_netns(netns, _make, fam, kind, proto)


def _fam(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


async def tcp_connect(netns: str, ip: str, port: int, timeout: float = 1.0) -> tuple[bool, str]:
    """A TCP connect from ``netns`` to ip:port: (connected, what happened)."""
    s = await _socket_in(netns, _fam(ip), socket.SOCK_STREAM)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(s, (ip, port)), timeout)
        return True, f"TCP connect to {ip}:{port} succeeded in {_ms(t0)}"
    except asyncio.TimeoutError:
        return False, f"TCP connect to {ip}:{port} got no answer in {timeout:g} s (dropped)"
    except OSError as exc:
        return False, f"TCP connect to {ip}:{port} failed: {os.strerror(exc.errno or 0)}"
    finally:
        s.close()


async def udp_exchange(netns: str, ip: str, port: int, timeout: float = 1.0) -> tuple[bool, str]:
    """One UDP datagram from ``netns`` to ip:port: True only when an answer comes back
    (a silent service is indistinguishable from a drop; an ICMP port unreachable is
    reported as a refusal)."""
    s = await _socket_in(netns, _fam(ip), socket.SOCK_DGRAM)
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    try:
        await loop.sock_connect(s, (ip, port))
        await loop.sock_sendall(s, b"boxnet diagnose\n")
        await asyncio.wait_for(loop.sock_recv(s, 2048), timeout)
        return True, f"UDP datagram to {ip}:{port} answered in {_ms(t0)}"
    except asyncio.TimeoutError:
        return False, f"UDP datagram to {ip}:{port} got no answer in {timeout:g} s"
    except OSError as exc:
        return False, f"UDP datagram to {ip}:{port} failed: {os.strerror(exc.errno or 0)}"
    finally:
        s.close()


def icmp_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of an ICMP message."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


SIOCGIFMTU = 0x8921
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2     # <linux/in.h>: set DF, never fragment


def _mtu(ifname: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16si12x", ifname.encode(), 0)
        return struct.unpack("16si12x", fcntl.ioctl(s.fileno(), SIOCGIFMTU, req))[1]


async def interface_mtu(netns: str, ifname: str) -> int:
    """The MTU of interface ``ifname`` inside ``netns`` (0 when it is not there)."""
    try:
        return await arun_in_netns(netns, _mtu, ifname)
    except OSError:
        return 0


async def ping(netns: str, ip: str, timeout: float = 1.0, size: int = 0) -> tuple[bool, str]:
    """ICMP echo from ``netns`` to ip (a raw socket: the daemon is root): (answered, what).

    ``size``: the IPv4 packet's total length, sent with DF (0: a small echo)."""
    v6 = ":" in ip
    fam, proto = (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else \
        (socket.AF_INET, socket.IPPROTO_ICMP)
    s = await _socket_in(netns, fam, socket.SOCK_RAW, proto)
    loop = asyncio.get_running_loop()
    ident = os.getpid() & 0xFFFF
    typ, reply = (128, 129) if v6 else (8, 0)
    payload = b"boxnet-diagnose"
    if size and not v6:
        payload = payload.ljust(size - 28, b".")
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    hdr = struct.pack("!BBHHH", typ, 0, 0, ident, 1)
    pkt = hdr + payload
    if not v6:   # the kernel computes ICMPv6 checksums itself
        pkt = struct.pack("!BBHHH", typ, 0, icmp_checksum(pkt), ident, 1) + payload
    t0 = time.monotonic()
    try:
        await loop.sock_sendto(s, pkt, (ip, 0))
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError
            data, peer = await asyncio.wait_for(loop.sock_recvfrom(s, 2048), left)
            icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
            # a raw socket sees every ICMP message of the netns: only the target's echo
            # reply carrying our identifier counts
            if _same(peer[0], ip) and len(icmp) >= 8 and icmp[0] == reply and \
                    struct.unpack("!H", icmp[4:6])[0] == ident:
                what = f" of {size} bytes (DF)" if size else ""
                return True, f"ping{what} {ip} answered in {_ms(t0)}"
    except asyncio.TimeoutError:
        what = f" of {size} bytes (DF)" if size else ""
        return False, f"ping{what} {ip} got no answer in {timeout:g} s (dropped)"
    except OSError as exc:
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return False, f"ping {ip}: {os.strerror(exc.errno)} (no route in the container)"
        return False, f"ping {ip} failed: {os.strerror(exc.errno or 0)}"
    finally:
        s.close()


def _same(a: str, b: str) -> bool:
    return ipaddress.ip_address(a.split("%")[0]) == ipaddress.ip_address(b)


def _ms(t0: float) -> str:
    return f"{(time.monotonic() - t0) * 1000:.1f} ms"


def _read_sockets(proto: str, port: int) -> list[str]:
    found = []
    for name in (proto, proto + "6"):
        try:
            with open(f"/proc/thread-self/net/{name}") as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:    # no IPv6 in this kernel
            continue
        for line in lines:
            cols = line.split()
            addr, p = cols[1].rsplit(":", 1)
            if int(p, 16) != port or (proto == "tcp" and cols[3] != LISTEN):
                continue
            found.append(_hexaddr(addr))
    return found


def _hexaddr(h: str) -> str:
    raw = bytes.fromhex(h)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc prints IPv6 as four host-order (little-endian) 32-bit words
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


async def bound_addresses(netns: str, port: int, proto: str = "tcp") -> list[str]:
    """The local addresses a socket listens on (TCP) or is bound to (UDP) at ``port``
    inside ``netns`` ("0.0.0.0" and "::" for any)."""
    return await arun_in_netns(netns, _read_sockets, proto, port)
