"""The DHCP wire format and client state machine (dhcp/wire.py, dhcp/client.py)
against a scripted server, and the dhcp IPAM driver's refusals (ipam/dhcp.py).
The real exchange with dnsmasq is tests/integration/test_dhcp.py."""

import ipaddress
import os
import random

import pytest

from boxnet.dhcp import wire
from boxnet.dhcp.client import BOUND, INIT, RENEWING, REQUESTING, SELECTING, Client
from boxnet.errors import InvalidParameter
from boxnet.ipam import dhcp as dhcp_ipam
from boxnet.ipam.api import PoolRequest

MAC = "02:42:c6:13:64:05"
SERVER = "198.19.100.1"


def _a(s):
    return ipaddress.IPv4Address(s).packed


def reply(req: wire.Message, kind: int, yiaddr="198.19.100.57", extra=None) -> wire.Message:
    """What a server answers to `req` (a decoded client packet)."""
    opts = {wire.OPT_MSG_TYPE: bytes([kind]), wire.OPT_SERVER_ID: _a(SERVER),
            wire.OPT_LEASE_TIME: (120).to_bytes(4, "big"),
            wire.OPT_SUBNET_MASK: _a("255.255.255.0"), wire.OPT_ROUTER: _a(SERVER),
            wire.OPT_DNS: _a("198.19.100.1") + _a("198.19.100.2")}
    opts.update(extra or {})
    return wire.decode(wire.encode(wire.Message(op=wire.BOOTREPLY, xid=req.xid,
                                                yiaddr=yiaddr, chaddr=req.chaddr,
                                                options=opts)))


def test_encode_decode_round_trip_and_option_order():
    m = wire.Message(xid=0xDEADBEEF, flags=wire.BROADCAST_FLAG, chaddr=wire.mac_bytes(MAC),
                     ciaddr="10.0.0.2", options={wire.OPT_MSG_TYPE: b"\x01",
                                                 wire.OPT_HOSTNAME: b"x" * 300})
    data = wire.encode(m)
    assert len(data) >= 300 and data[236:240] == wire.MAGIC
    back = wire.decode(data)
    assert back.xid == 0xDEADBEEF and back.ciaddr == "10.0.0.2" and back.chaddr == m.chaddr
    assert back.options[wire.OPT_HOSTNAME] == b"x" * 300   # split and joined (RFC 3396)
    assert back.msg_type == wire.DISCOVER


@pytest.mark.parametrize("cut", [0, 10, 239, 241])
def test_short_or_truncated_packets_are_wire_errors(cut):
    data = wire.encode(wire.Message(xid=1, chaddr=wire.mac_bytes(MAC), options={
        wire.OPT_MSG_TYPE: b"\x02", wire.OPT_DNS: b"\x01\x02\x03\x04" * 4}))
    with pytest.raises(wire.WireError):
        wire.decode(data[:cut] if cut < 240 else data[:cut] + b"\x06\x40")


def test_random_garbage_never_raises_anything_else():
    rnd = random.Random(18)
    good = wire.encode(wire.Message(xid=1, chaddr=wire.mac_bytes(MAC),
                                    options={wire.OPT_MSG_TYPE: b"\x02"}))
    for _ in range(2000):
        b = bytearray(good)
        for _ in range(rnd.randrange(1, 8)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        try:
            wire.decode(bytes(b[:rnd.randrange(200, len(b) + 1)]))
        except wire.WireError:
            pass


def test_discover_offer_request_ack_gives_a_lease():
    c = Client(MAC)
    d = wire.decode(wire.encode(c.discover()))
    assert c.state == SELECTING and d.msg_type == wire.DISCOVER and d.flags & wire.BROADCAST_FLAG
    assert d.options[wire.OPT_CLIENT_ID] == b"\x01" + wire.mac_bytes(MAC)
    req = c.receive(reply(d, wire.OFFER), now=1000.0)
    assert isinstance(req, wire.Message) and c.state == REQUESTING
    assert req.msg_type == wire.REQUEST and req.addr(wire.OPT_REQUESTED_IP) == "198.19.100.57"
    assert req.addr(wire.OPT_SERVER_ID) == SERVER and req.xid == d.xid
    lease = c.receive(reply(req, wire.ACK), now=1000.0)
    assert c.state == BOUND and lease.address == "198.19.100.57/24"
    assert lease.router == SERVER and lease.dns == ["198.19.100.1", "198.19.100.2"]
    # no T1/T2 options: RFC 2131's defaults, half and 7/8 of the lease
    assert (lease.t1, lease.t2, lease.renew_at(), lease.expires_at()) == (60, 105, 1060, 1120)


def test_replies_for_another_transaction_or_mac_are_ignored():
    c = Client(MAC)
    d = wire.decode(wire.encode(c.discover()))
    other = reply(d, wire.OFFER)
    other.xid ^= 1
    assert c.receive(other, 0) is None and c.state == SELECTING
    foreign = reply(d, wire.OFFER)
    foreign.chaddr = wire.mac_bytes("02:00:00:00:00:09")
    assert c.receive(foreign, 0) is None
    assert c.receive(reply(d, wire.ACK), 0) is None   # an ACK before any REQUEST


def test_renewal_is_a_request_with_ciaddr_and_a_nak_restarts():
    c = Client(MAC)
    d = wire.decode(wire.encode(c.discover()))
    req = c.receive(reply(d, wire.OFFER), 0)
    c.receive(reply(req, wire.ACK, extra={wire.OPT_T1: (30).to_bytes(4, "big")}), 0)
    assert c.lease.t1 == 30
    r = c.renew()
    assert c.state == RENEWING and r.ciaddr == "198.19.100.57" and r.flags == 0
    assert wire.OPT_SERVER_ID not in r.options and wire.OPT_REQUESTED_IP not in r.options
    lease = c.receive(reply(r, wire.ACK), now=50.0)
    assert lease.renewals == 1 and lease.acquired == 50.0
    c.renew(rebinding=True)
    assert c.receive(reply(c.renew(rebinding=True), wire.NAK), 60) == "nak" and c.state == INIT


def test_release_names_the_server_and_discover_asks_for_the_last_address():
    c = Client(MAC)
    d = wire.decode(wire.encode(c.discover()))
    c.receive(reply(c.receive(reply(d, wire.OFFER), 0), wire.ACK), 0)
    rel = c.release()
    assert rel.msg_type == wire.RELEASE and rel.addr(wire.OPT_SERVER_ID) == SERVER
    assert rel.ciaddr == "198.19.100.57"
    assert c.discover().addr(wire.OPT_REQUESTED_IP) == "198.19.100.57"


def test_ipvlan_client_id_is_per_endpoint():
    a, b = os.urandom(32).hex(), os.urandom(32).hex()
    ca = Client(MAC, client_id=wire.endpoint_client_id(a)).discover()
    cb = Client(MAC, client_id=wire.endpoint_client_id(b)).discover()
    assert ca.options[wire.OPT_CLIENT_ID] != cb.options[wire.OPT_CLIENT_ID]
    assert ca.options[wire.OPT_CLIENT_ID] == wire.endpoint_client_id(a)


def test_ipam_refusals_name_the_conflict():
    with pytest.raises(InvalidParameter, match="needs a macvlan or ipvlan network"):
        dhcp_ipam.check_network("bridge", False, [], True, False)
    with pytest.raises(InvalidParameter, match="--subnet cannot be given"):
        dhcp_ipam.check_network("macvlan", True, [PoolRequest(subnet="10.0.0.0/24")], True,
                                False)
    with pytest.raises(InvalidParameter, match="--gateway cannot be given"):
        dhcp_ipam.check_network("macvlan", True, [PoolRequest(gateway="10.0.0.1")], True,
                                False)
    with pytest.raises(InvalidParameter, match="--ipv6"):
        dhcp_ipam.check_network("macvlan", True, [], True, True)
    with pytest.raises(InvalidParameter, match="network lan uses the dhcp IPAM driver.*--ip "):
        dhcp_ipam.check_static("lan", "10.0.0.5", "")
    with pytest.raises(InvalidParameter, match="--ipam-opt x cannot be given"):
        dhcp_ipam.check_network("macvlan", True, [], True, False, {"x": "1"})
    dhcp_ipam.check_network("macvlan", True, [], True, False, {})
    dhcp_ipam.check_static("lan", "", "")


def test_a_hostile_lease_cannot_aim_dns_at_the_host_nor_route_off_subnet():
    c = Client(MAC)
    d = wire.decode(wire.encode(c.discover()))
    req = c.receive(reply(d, wire.OFFER), 0)
    lease = c.receive(reply(req, wire.ACK, extra={
        wire.OPT_DNS: _a("127.0.0.1") + _a("0.0.0.0") + _a("198.19.100.53") + _a("224.0.0.1"),
        wire.OPT_ROUTER: _a("10.9.9.9")}), 0)
    assert lease.dns == ["198.19.100.53"] and lease.router == ""
    # a 1 s lease would have the task renew in a loop: stretched to 20 s, T1 10 s
    c.renew()
    short = c.receive(reply(c.renew(), wire.ACK, extra={
        wire.OPT_LEASE_TIME: (1).to_bytes(4, "big"), wire.OPT_T1: (0).to_bytes(4, "big")}), 0)
    assert (short.lease_time, short.t1) == (20, 10) and short.t2 >= short.t1


def _udp(port=0):
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    return s


def test_exchange_retransmits_a_lost_request_and_times_out_without_a_server():
    """dhcp/leases.py's exchange over loopback UDP: the server drops the first REQUEST,
    the retransmission gets the ACK; with nobody answering it ends with None."""
    import asyncio

    from boxnet.dhcp.leases import exchange

    async def main():
        loop = asyncio.get_running_loop()
        srv, cli = _udp(), _udp()
        port = srv.getsockname()[1]
        seen = []

        async def server():
            while True:
                data, addr = await loop.sock_recvfrom(srv, 4096)
                m = wire.decode(data)
                seen.append(m.msg_type)
                if m.msg_type == wire.DISCOVER:
                    out = reply(m, wire.OFFER)
                elif seen.count(wire.REQUEST) == 1:
                    continue   # lost
                else:
                    out = reply(m, wire.ACK)
                out.op = wire.BOOTREPLY
                await loop.sock_sendto(srv, wire.encode(out), addr)

        task = loop.create_task(server())
        c = Client(MAC)
        lease = await exchange(cli, c, c.discover(), "127.0.0.1", 5.0, port=port,
                               first_wait=0.1)
        task.cancel()
        assert lease.address == "198.19.100.57/24"
        assert seen == [wire.DISCOVER, wire.REQUEST, wire.REQUEST]
        srv.close()
        start = loop.time()
        assert await exchange(cli, c, c.discover(), "127.0.0.1", 0.5, port=port,
                              first_wait=0.1) is None
        assert 0.4 < loop.time() - start < 2.0
        cli.close()

    asyncio.run(main())
