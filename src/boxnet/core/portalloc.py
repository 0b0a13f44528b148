"""Host-port allocation for published ports, with conflicts checked twice:
against ports boxnet already published, and by a probe bind in the daemon's
netns (a host process listening on the port).

The probe socket is kept bound (never listening) while the port is
published, as dockerd does: a host process that later tries to bind the same
port gets EADDRINUSE instead of silently losing its traffic to the DNAT.
"""

from __future__ import annotations

import errno
import ipaddress
import random
import socket

import msgspec

from ..errors import Conflict, InvalidParameter, Unavailable

IPPROTO_SCTP = 132
ANY = {4: "0.0.0.0", 6: "::"}


class HostBinding(msgspec.Struct, frozen=True, kw_only=True):
    """One allocated published port: host side and container side.

    host_ip "" means every address of each family in `families`.
    """

    proto: str
    host_ip: str
    host_port: int
    container_port: int
    families: tuple[int, ...] = (4,)


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range in the daemon's netns (Docker's choice too)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def families_for(host_ip: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(wanted families, of which optional) for a host IP ("" = both, v6 optional)."""
    if not host_ip:
        return (4, 6), (6,)
    v = ipaddress.ip_address(host_ip).version
    return (v,), ()


def normalize_ip(host_ip: str) -> str:
    """"" for the any addresses, else the canonical text form."""
    if not host_ip:
        return ""
    ip = ipaddress.ip_address(host_ip)
    return "" if ip.is_unspecified else str(ip)


def _probe(family: int, proto: str, host_ip: str, port: int) -> socket.socket | None:
    """Bind (not listen) the host port; the socket, None if the proto can't be probed.

    Raises OSError from bind (EADDRINUSE, EADDRNOTAVAIL...).
    """
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    try:
        if proto == "udp":
            s = socket.socket(fam, socket.SOCK_DGRAM)
        elif proto == "sctp":
            s = socket.socket(fam, socket.SOCK_STREAM, IPPROTO_SCTP)
        else:
            s = socket.socket(fam, socket.SOCK_STREAM)
    except OSError:
        return None  # e.g. no SCTP in this kernel: nothing to probe
    try:
        if family == 6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host_ip or ANY[family], port))
    except OSError:
        s.close()
        raise
    return s


class PortAllocator:
    """Host ports in use by published ports, keyed (family, proto, ip, port)."""

    def __init__(self, port_range: tuple[int, int] | None = None):
        """`port_range` for random ports; default: the kernel's ephemeral range."""
        self.range = port_range or ephemeral_range()
        self._held: dict[tuple, tuple[str, socket.socket | None]] = {}

    def _clash(self, family: int, proto: str, ip: str, port: int) -> str | None:
        for (f, p, i, n), (cid, _) in self._held.items():
            if f == family and p == proto and n == port and (not i or not ip or i == ip):
                return cid
        return None

    def _try(self, cid: str, proto: str, ip: str, port: int, fams, optional) -> tuple | None:
        """Hold `port` for every family, or nothing; the families held, None if busy."""
        got: list[tuple] = []
        try:
            for fam in fams:
                if self._clash(fam, proto, ip, port):
                    raise _Busy("port is already allocated")
                try:
                    sock = _probe(fam, proto, ip, port)
                except OSError as e:
                    if fam in optional and e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                        continue  # no IPv6 on this host: publish IPv4 only
                    if e.errno == errno.EADDRNOTAVAIL:
                        raise InvalidParameter(f"host IP {ip} is not an address of this host")
                    raise _Busy(f"address already in use by a host process ({e.strerror})")
                got.append(((fam, proto, ip, port), sock))
        except _Busy as busy:
            for _, sock in got:
                if sock:
                    sock.close()
            self.last_reason = str(busy)
            return None
        for key, sock in got:
            self._held[key] = (cid, sock)
        return tuple(k[0] for k, _ in got)

    def allocate(self, cid: str, proto: str, host_ip: str, lo: int, hi: int,
                 container_port: int) -> HostBinding:
        """Hold a host port in [lo, hi] (0: a random ephemeral one); Conflict if none."""
        ip = normalize_ip(host_ip)
        fams, optional = families_for(ip)
        if lo == 0:
            rlo, rhi = self.range
            start = random.randint(rlo, rhi)
            candidates = list(range(start, rhi + 1)) + list(range(rlo, start))
        else:
            candidates = list(range(lo, (hi or lo) + 1))
        self.last_reason = ""
        for port in candidates:
            held = self._try(cid, proto, ip, port, fams, optional)
            if held:
                return HostBinding(proto=proto, host_ip=ip, host_port=port,
                                   container_port=container_port, families=held)
        where = f"{ip or '0.0.0.0'}:{lo}" + (f"-{hi}" if hi and hi != lo else "")
        if lo == 0:
            raise Unavailable(f"no free host port for {proto} in {self.range[0]}-{self.range[1]}")
        raise Conflict(f"Bind for {where}/{proto} failed: {self.last_reason}")

    def reserve(self, cid: str, b: HostBinding) -> HostBinding:
        """Hold an allocation again (daemon restart); Conflict if it is taken."""
        held = self._try(cid, b.proto, b.host_ip, b.host_port, b.families, b.families)
        if not held:
            raise Conflict(f"Bind for {b.host_ip or '0.0.0.0'}:{b.host_port}/{b.proto} failed: "
                           f"{self.last_reason}")
        return HostBinding(proto=b.proto, host_ip=b.host_ip, host_port=b.host_port,
                           container_port=b.container_port, families=held)

    def release(self, cid: str) -> None:
        """Free every port held for a container."""
        for key, (owner, sock) in list(self._held.items()):
            if owner == cid:
                if sock:
                    sock.close()
                del self._held[key]


class _Busy(Exception):
    pass


def host_ip_is_local(host_ip: str) -> bool:
    """Whether an address belongs to this host (its netns): a bind to port 0 succeeds."""
    ip = ipaddress.ip_address(host_ip)
    if ip.is_unspecified:
        return True
    fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        try:
            s.bind((str(ip), 0))
        except OSError:
            return False
    return True
