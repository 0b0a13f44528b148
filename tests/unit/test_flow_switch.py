"""Flows' kernel side without a kernel: the bounded netlink subscription
(kernel/nlsub.py) counts what it loses, ARP from the bridge table's ICC-off
log becomes a "dropped by ICC off" flow, and --flows=off renders a ruleset
with no log rule and a flow service that refuses readers naming the flag."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from boxnet.daemon.flags import parser, to_config
from boxnet.errors import Unavailable
from boxnet.firewall.nft import bridgeset, ruleset
from boxnet.flows.service import FlowService
from boxnet.flows.table import FlowTable, Peer
from boxnet.kernel import nflog
from boxnet.kernel.nlsub import Subscription


def test_subscription_is_bounded_and_counts_lost():
    async def main():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        sub = Subscription(b, lambda buf: list(buf), "test", maxsize=2)
        for chunk in (b"ab", b"cd", b"efg"):   # the third finds the queue full
            a.send(chunk)
        a.send(b"")                            # nothing decoded: neither queued nor lost
        deadline = asyncio.get_running_loop().time() + 5
        while sub.lost == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        got = []
        async for rec in sub:
            got.append(rec)
            if len(got) == 4:
                break
        sub.close()
        sub.close()   # idempotent
        a.close()
        return got, sub.lost
    got, lost = asyncio.run(main())
    assert got == list(b"abcd") and lost == 3


def _nflog_msg(prefix: bytes, payload: bytes, hwproto: int) -> bytes:
    def attr(t, d):
        a = struct.pack("=HH", 4 + len(d), t) + d
        return a + b"\0" * (-len(a) % 4)
    body = struct.pack("=BBH", 7, 0, socket.htons(2001)) + \
        attr(1, struct.pack("!HBB", hwproto, 2, 0)) + attr(10, prefix + b"\0") + attr(9, payload)
    return struct.pack("=IHHII", 16 + len(body), (4 << 8) | 0, 0, 0, 0) + body


def test_arp_of_icc_off_is_a_drop_with_its_verdict():
    arp = bytes.fromhex("0001080006040001") + bytes(6) + bytes([10, 0, 0, 2]) + bytes(6) + \
        bytes([10, 0, 0, 3])
    drops = nflog.decode(_nflog_msg(b"boxnet-icc ", arp, 0x0806))
    assert drops == [nflog.Drop("boxnet-icc", "arp", "10.0.0.2", "10.0.0.3")]
    assert nflog.parse_packet(arp) is None          # not read as IP without its EtherType
    assert nflog.parse_arp(arp[:20]) is None        # truncated
    names = {"10.0.0.2": "a", "10.0.0.3": "b"}
    t = FlowTable(lambda ip: Peer(ip=ip, container=names[ip]) if ip in names else None)
    f = t.drop(drops[0])
    assert (f.verdict, f.state, f.proto, f.src.container, f.dst.container) == \
        ("dropped by ICC off", "dropped", "arp", "a", "b")


def test_icc_log_rules_precede_the_icc_drop_and_go_with_flows_off():
    fwd = bridgeset.BRIDGE_CHAINS["forward"][1]
    logs = [i for i, r in enumerate(fwd) if '"boxnet-icc "' in r]
    assert len(logs) == 4 and max(logs) < fwd.index("iifname @iccports drop")
    on, off = "\n".join(ruleset.skeleton()), "\n".join(ruleset.skeleton(flow_log=False))
    assert on.count(" log prefix ") == 7 and " log " not in off and "group 2001" not in off
    assert "add rule inet boxnet poldrop drop" in off   # the drops stay, unlogged
    want_on, want_off = ruleset.expected_rule_counts(), ruleset.expected_rule_counts(False)
    assert sum(want_on.values()) - sum(want_off.values()) == 7
    assert " log " not in ruleset.full_ruleset([], flow_log=False)


def test_flows_flag():
    assert to_config(parser().parse_args([])).flows is True
    assert to_config(parser().parse_args(["--flows=off"])).flows is False
    with pytest.raises(SystemExit):
        parser().parse_args(["--flows=maybe"])


def test_flows_off_service_refuses_readers_naming_the_flag():
    async def main():
        svc = FlowService(lambda ip: None, enabled=False)
        await svc.start()   # subscribes to nothing
        assert svc.lost() == {"conntrack": 0, "drops": 0}
        with pytest.raises(Unavailable, match="--flows=off"):
            await svc.snapshot()
        await svc.close()
    asyncio.run(main())


def test_cli_warns_of_lost_records(capsys):
    from boxnet.cli.flows import _warn_lost
    _warn_lost("conntrack=0, drops=0")
    _warn_lost("")
    assert capsys.readouterr().err == ""
    _warn_lost("conntrack=3, drops=1")
    err = capsys.readouterr().err
    assert "3 conntrack events and 1 logged drop" in err and err.startswith("WARNING")


def test_neighbour_solicitation_names_its_target():
    import ipaddress
    src, grp, tgt = (ipaddress.IPv6Address(a).packed
                     for a in ("fd00::2", "ff02::1:ff00:3", "fd00::3"))
    ns = bytes([0x60, 0, 0, 0, 0, 32, 58, 255]) + src + grp + bytes([135] + [0] * 7) + tgt
    assert nflog.parse_packet(ns) == ("ndp", "fd00::2", "fd00::3", 0, 0)
    echo = ns[:40] + bytes([128] + [0] * 23)   # another ICMPv6 message: its own addresses
    assert nflog.parse_packet(echo) == ("icmpv6", "fd00::2", "ff02::1:ff00:3", 0, 0)
