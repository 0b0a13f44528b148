"""The DHCPv4 wire format (RFC 2131 / RFC 2132), sans-I/O: encode and decode.

Only what a client needs: the BOOTP header, the magic cookie and the options
a lease carries (message type, server id, lease time, T1, T2, subnet mask,
router, DNS servers, requested address, client id, hostname, parameter
request list). Decoding is strict about lengths and never raises anything
but WireError on malformed input, so a hostile LAN cannot crash the daemon.

Why not a library: pydhcplib (last release 2008, Python 2 era) and
scapy (a 20 MB packet toolkit, GPL, slow to import) do not fit the daemon;
the format is small and fixed, so ~150 lines here are easier to keep right.
"""

from __future__ import annotations

import ipaddress
import struct

import msgspec

MAGIC = b"\x63\x82\x53\x63"
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")   # 236 bytes
BOOTREQUEST, BOOTREPLY = 1, 2
BROADCAST_FLAG = 0x8000

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
TYPE_NAMES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK",
              6: "NAK", 7: "RELEASE", 8: "INFORM"}

OPT_PAD, OPT_END = 0, 255
OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME = 1, 3, 6, 12
OPT_REQUESTED_IP, OPT_LEASE_TIME, OPT_MSG_TYPE, OPT_SERVER_ID = 50, 51, 53, 54
OPT_PARAM_REQ, OPT_MESSAGE, OPT_T1, OPT_T2, OPT_CLIENT_ID = 55, 56, 58, 59, 61

#: what the client asks for in every DISCOVER/REQUEST
PARAMS = bytes([OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_LEASE_TIME, OPT_T1, OPT_T2])


class WireError(ValueError):
    """A malformed or unusable DHCP packet."""


class Message(msgspec.Struct, kw_only=True):
    """One DHCP message; addresses are dotted strings ("0.0.0.0" when unset)."""

    op: int = BOOTREQUEST
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: str = "0.0.0.0"
    yiaddr: str = "0.0.0.0"
    siaddr: str = "0.0.0.0"
    giaddr: str = "0.0.0.0"
    chaddr: bytes = b""          # the client's MAC (6 bytes)
    options: dict[int, bytes] = {}

    @property
    def msg_type(self) -> int:
        """The DHCP message type (option 53), 0 when absent."""
        v = self.options.get(OPT_MSG_TYPE, b"")
        return v[0] if len(v) == 1 else 0

    def addr(self, code: int) -> str | None:
        """An option holding one IPv4 address, as a string, or None."""
        v = self.options.get(code)
        return str(ipaddress.IPv4Address(v)) if v is not None and len(v) == 4 else None

    def addrs(self, code: int) -> list[str]:
        """An option holding a list of IPv4 addresses."""
        v = self.options.get(code, b"")
        if len(v) % 4:
            return []
        return [str(ipaddress.IPv4Address(v[i:i + 4])) for i in range(0, len(v), 4)]

    def u32(self, code: int) -> int | None:
        """An option holding a 32-bit unsigned number, or None."""
        v = self.options.get(code)
        return struct.unpack("!I", v)[0] if v is not None and len(v) == 4 else None


def _a(s: str) -> bytes:
    return ipaddress.IPv4Address(s).packed


def mac_bytes(mac: str) -> bytes:
    """"aa:bb:cc:dd:ee:ff" -> 6 bytes."""
    b = bytes.fromhex(mac.replace(":", ""))
    if len(b) != 6:
        raise WireError(f"not a MAC address: {mac}")
    return b


def encode(msg: Message) -> bytes:
    """The packet of a message (options in the order given, then END, padded to 300
    bytes as BOOTP relays and old servers expect)."""
    head = HEADER.pack(msg.op, 1, 6, 0, msg.xid, msg.secs, msg.flags, _a(msg.ciaddr),
                       _a(msg.yiaddr), _a(msg.siaddr), _a(msg.giaddr),
                       msg.chaddr.ljust(16, b"\0"), b"", b"")
    opts = bytearray()
    for code, value in msg.options.items():
        for i in range(0, max(len(value), 1), 255):   # RFC 3396: long options split
            chunk = value[i:i + 255]
            opts += bytes([code, len(chunk)]) + chunk
    opts.append(OPT_END)
    return (head + MAGIC + bytes(opts)).ljust(300, b"\0")


def decode(data: bytes) -> Message:
    """Parse a packet; WireError if it is not a well-formed DHCP message."""
    if len(data) < HEADER.size + 4:
        raise WireError(f"short packet ({len(data)} bytes)")
    (op, htype, hlen, _hops, xid, secs, flags, ci, yi, si, gi, ch, _sname,
     _file) = HEADER.unpack_from(data)
    if data[HEADER.size:HEADER.size + 4] != MAGIC:
        raise WireError("no DHCP magic cookie")
    if htype != 1 or hlen != 6:
        raise WireError(f"hardware type {htype}/{hlen} is not Ethernet")
    options: dict[int, bytes] = {}
    i, end = HEADER.size + 4, len(data)
    while i < end:
        code = data[i]
        if code == OPT_PAD:
            i += 1
            continue
        if code == OPT_END:
            break
        if i + 1 >= end or i + 2 + data[i + 1] > end:
            raise WireError(f"option {code} runs past the packet")
        n = data[i + 1]
        options[code] = options.get(code, b"") + data[i + 2:i + 2 + n]  # RFC 3396
        i += 2 + n
    ip = ipaddress.IPv4Address
    return Message(op=op, xid=xid, secs=secs, flags=flags, ciaddr=str(ip(ci)),
                   yiaddr=str(ip(yi)), siaddr=str(ip(si)), giaddr=str(ip(gi)),
                   chaddr=ch[:6], options=options)


def client_id(mac: str) -> bytes:
    """Option 61 as most clients send it: hardware type 1 and the MAC (RFC 2132 9.14)."""
    return b"\x01" + mac_bytes(mac)


def endpoint_client_id(endpoint_id: str) -> bytes:
    """Option 61 for links that share their parent's MAC (ipvlan): type 0 and a
    name stable per endpoint, so each endpoint holds a lease of its own."""
    return b"\x00boxnet-" + endpoint_id[:24].encode()
