"""The DHCPv4 client state machine (RFC 2131 section 4.4), sans-I/O.

`Client` says what to send and what a received message means; it never
touches a socket or a clock of its own: the caller (dhcp/leases.py) passes
`now` (seconds, wall clock) and does the sending, the waiting and the
retransmissions. States: INIT -> SELECTING (DISCOVER sent) -> REQUESTING
(REQUEST for an OFFER sent) -> BOUND (ACK); from BOUND, RENEWING at T1
(REQUEST unicast to the server, ciaddr set) and REBINDING at T2 (the same,
broadcast); a NAK, or the lease running out, goes back to INIT.
"""

from __future__ import annotations

import ipaddress
import os
import struct

import msgspec

from . import wire

MIN_LEASE, MIN_T1 = 20, 10   # seconds

INIT, SELECTING, REQUESTING, BOUND, RENEWING, REBINDING = (
    "init", "selecting", "requesting", "bound", "renewing", "rebinding")


class Lease(msgspec.Struct, kw_only=True):
    """A bound lease, as kept in the store (times are wall-clock seconds)."""

    address: str             # "198.19.100.57/24"
    server: str              # the server identifier (option 54)
    router: str = ""         # the first router (option 3), the default gateway
    dns: list[str] = []      # DNS servers (option 6)
    lease_time: int = 0      # seconds (option 51)
    t1: int = 0              # renewal after, seconds
    t2: int = 0              # rebinding after, seconds
    acquired: float = 0.0    # when the ACK came (wall clock)
    renewals: int = 0        # ACKs of renewal/rebinding since the first

    @property
    def ip(self) -> str:
        """The address without its prefix."""
        return self.address.partition("/")[0]

    def renew_at(self) -> float:
        """When RENEWING starts (T1)."""
        return self.acquired + self.t1

    def rebind_at(self) -> float:
        """When REBINDING starts (T2)."""
        return self.acquired + self.t2

    def expires_at(self) -> float:
        """When the lease ends."""
        return self.acquired + self.lease_time


def usable_dns(servers: list[str]) -> list[str]:
    """The lease's DNS servers the embedded DNS may forward to. It forwards from the
    daemon's netns, so a loopback (or unspecified, multicast, broadcast) address from
    the LAN would aim the containers' queries at the host's own services: dropped."""
    out = []
    for s in servers:
        a = ipaddress.IPv4Address(s)
        if not (a.is_loopback or a.is_unspecified or a.is_multicast or a.is_link_local
                or s == "255.255.255.255"):
            out.append(s)
    return out


def lease_from_ack(ack: wire.Message, now: float, renewals: int = 0) -> Lease:
    """The lease an ACK grants; wire.WireError if it lacks what a lease needs."""
    server = ack.addr(wire.OPT_SERVER_ID)
    lt = ack.u32(wire.OPT_LEASE_TIME)
    if ack.yiaddr == "0.0.0.0" or not server or not lt:
        raise wire.WireError("ACK without an address, a server id or a lease time")
    mask = ack.addr(wire.OPT_SUBNET_MASK)
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen if mask else 24
    # 0xffffffff is "infinite"; a lease shorter than MIN_LEASE s (or a T1 under
    # MIN_T1) is stretched: a server saying 1 s would make the task renew in a loop
    lt = max(min(lt, 0x7FFFFFFF), MIN_LEASE)
    t1 = max(ack.u32(wire.OPT_T1) or lt // 2, MIN_T1)
    t2 = ack.u32(wire.OPT_T2) or lt * 7 // 8
    net = ipaddress.IPv4Interface(f"{ack.yiaddr}/{prefix}").network
    # a router off the leased subnet cannot be a default route's next hop here
    routers = [r for r in ack.addrs(wire.OPT_ROUTER) if ipaddress.IPv4Address(r) in net]
    return Lease(address=f"{ack.yiaddr}/{prefix}", server=server,
                 router=routers[0] if routers else "", dns=usable_dns(ack.addrs(wire.OPT_DNS)),
                 lease_time=lt, t1=min(t1, lt), t2=min(max(t2, t1), lt), acquired=now,
                 renewals=renewals)


class Client:
    """One endpoint's DHCP conversation; `mac` is its interface's, `hostname` optional."""

    def __init__(self, mac: str, hostname: str = "", lease: Lease | None = None,
                 client_id: bytes | None = None):
        self.mac = mac
        self.chaddr = wire.mac_bytes(mac)
        self.client_id = client_id or wire.client_id(mac)   # option 61, stable per endpoint
        self.hostname = hostname
        self.lease = lease
        self.state = BOUND if lease else INIT
        self.xid = 0
        self._offer: wire.Message | None = None

    def _new_xid(self) -> int:
        self.xid = struct.unpack("!I", os.urandom(4))[0]
        return self.xid

    def _options(self, kind: int, extra: dict[int, bytes]) -> dict[int, bytes]:
        opts = {wire.OPT_MSG_TYPE: bytes([kind]),
                wire.OPT_CLIENT_ID: self.client_id}
        opts.update(extra)
        if kind in (wire.DISCOVER, wire.REQUEST):
            opts[wire.OPT_PARAM_REQ] = wire.PARAMS
            if self.hostname:
                opts[wire.OPT_HOSTNAME] = self.hostname.encode()[:63]
        return opts

    def discover(self) -> wire.Message:
        """Start over: a DISCOVER (broadcast); asks for the last address if known."""
        extra = {wire.OPT_REQUESTED_IP: ipaddress.IPv4Address(self.lease.ip).packed} \
            if self.lease else {}
        self.state, self._offer = SELECTING, None
        return wire.Message(xid=self._new_xid(), flags=wire.BROADCAST_FLAG,
                            chaddr=self.chaddr, options=self._options(wire.DISCOVER, extra))

    def renew(self, rebinding: bool = False) -> wire.Message:
        """A REQUEST for the bound lease with ciaddr set: unicast to the server at T1
        (RENEWING), broadcast at T2 (REBINDING); no server id nor requested address."""
        assert self.lease is not None
        self.state = REBINDING if rebinding else RENEWING
        return wire.Message(xid=self._new_xid(), ciaddr=self.lease.ip, chaddr=self.chaddr,
                            options=self._options(wire.REQUEST, {}))

    def release(self) -> wire.Message:
        """A RELEASE of the bound lease (unicast to its server); back to INIT."""
        assert self.lease is not None
        msg = wire.Message(xid=self._new_xid(), ciaddr=self.lease.ip, chaddr=self.chaddr,
                           options=self._options(wire.RELEASE, {
                               wire.OPT_SERVER_ID: ipaddress.IPv4Address(
                                   self.lease.server).packed}))
        self.state = INIT
        return msg

    def receive(self, msg: wire.Message, now: float) -> wire.Message | Lease | str | None:
        """Feed a received message: a REQUEST to send (an OFFER was taken), the new
        Lease (ACK), "nak" (back to INIT: discover again), or None (not for us)."""
        if msg.op != wire.BOOTREPLY or msg.xid != self.xid or msg.chaddr != self.chaddr:
            return None
        kind = msg.msg_type
        if self.state == SELECTING and kind == wire.OFFER:
            server = msg.addr(wire.OPT_SERVER_ID)
            if not server or msg.yiaddr == "0.0.0.0":
                return None
            self._offer, self.state = msg, REQUESTING
            return wire.Message(xid=self.xid, flags=wire.BROADCAST_FLAG, chaddr=self.chaddr,
                                options=self._options(wire.REQUEST, {
                                    wire.OPT_REQUESTED_IP:
                                        ipaddress.IPv4Address(msg.yiaddr).packed,
                                    wire.OPT_SERVER_ID:
                                        ipaddress.IPv4Address(server).packed}))
        if self.state in (REQUESTING, RENEWING, REBINDING):
            if kind == wire.NAK:
                self.state = INIT
                return "nak"
            if kind == wire.ACK:
                renewing = self.state != REQUESTING
                count = self.lease.renewals + 1 if renewing and self.lease else 0
                try:
                    lease = lease_from_ack(msg, now, count)
                except wire.WireError:
                    return None
                self.lease, self.state = lease, BOUND
                return lease
        return None

    def expired(self, now: float) -> bool:
        """Whether the lease has run out (the address must go)."""
        return self.lease is None or now >= self.lease.expires_at()
