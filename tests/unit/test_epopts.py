"""Endpoint options (core/epopts.py) and the address announcements
(kernel/announce.py): Docker's rules for ifname, sysctls and link-local IPs,
and the frames a neighbour sees."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from boxnet.core import epopts
from boxnet.errors import InvalidParameter
from boxnet.kernel import announce
from boxnet.model import EndpointSettings


def st(**opts) -> EndpointSettings:
    return EndpointSettings(network_id="n", driver_opts=dict(opts))


@pytest.mark.parametrize("name", ["eth0", "wan", "a.b", "x" * 15, "e-1_2"])
def test_good_ifnames(name):
    assert epopts.check_ifname(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "x" * 16, "a/b", "a:b", "a b", "tab\t"])
def test_bad_ifnames(name):
    with pytest.raises(InvalidParameter, match="invalid interface name"):
        epopts.check_settings(st(**{epopts.IFNAME_OPT: name}))


def test_ifname_clash():
    s = st(**{epopts.IFNAME_OPT: "wan"})
    epopts.check_ifname_clash(s, {"eth0", "lo"}, "n1")
    with pytest.raises(InvalidParameter, match="wan.*already used"):
        epopts.check_ifname_clash(s, {"wan"}, "n1")


def test_sysctls_ifname_placeholder():
    v = "net.ipv4.conf.IFNAME.forwarding=1,net.ipv6.conf.ifname.accept_ra=2"
    assert epopts.sysctl_paths(v, "wan.5") == [
        ("net/ipv4/conf/wan.5/forwarding", "1"), ("net/ipv6/conf/wan.5/accept_ra", "2")]


@pytest.mark.parametrize("bad", [
    "net.ipv4.ip_forward=1",                       # not per interface
    "net.ipv4.conf.eth0.forwarding=1",             # a name instead of IFNAME
    "net.mpls.conf.IFNAME.input=1",                # outside ipv4/ipv6 conf
    "kernel.shmmax=1",
    "net.ipv4.conf.IFNAME.forwarding",             # no value
    "net.ipv4.conf.IFNAME.../x=1",
    "net.ipv4.neigh.IFNAME.ucast_solicit=1",
])
def test_sysctls_refused(bad):
    with pytest.raises(InvalidParameter, match="unrecognised network interface sysctl"):
        epopts.check_settings(st(**{epopts.SYSCTLS_OPT: "net.ipv4.conf.IFNAME.arp_notify=1,"
                                                         + bad}))


def test_link_local():
    assert epopts.link_local_cidrs(["169.254.3.4", "fe80::34"]) == [
        "169.254.3.4/16", "fe80::34/64"]
    for bad in ("10.0.0.1", "fd00::1", "nonsense", "169.255.0.1"):
        s = EndpointSettings(network_id="n", link_local_ips=[bad])
        with pytest.raises(InvalidParameter, match="link-local"):
            epopts.check_settings(s)


def test_garp_frame():
    f = announce.garp_frame("02:00:00:aa:bb:cc", "10.1.2.3")
    assert f[:6] == b"\xff" * 6 and f[6:12] == bytes.fromhex("020000aabbcc")
    assert struct.unpack("!H", f[12:14])[0] == 0x0806
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", f[14:22])
    assert (htype, ptype, hlen, plen, op) == (1, 0x0800, 6, 4, 1)
    assert f[28:32] == f[38:42] == ipaddress.IPv4Address("10.1.2.3").packed


def test_na_frame_checksum():
    f = announce.na_frame("02:00:00:aa:bb:cc", "fd00::5")
    ip6, icmp = f[14:54], f[54:]
    src, dst = ip6[8:24], ip6[24:40]
    assert ip6[7] == 255 and ip6[6] == 58 and dst == ipaddress.IPv6Address("ff02::1").packed
    assert icmp[0] == 136 and icmp[8:24] == src and icmp[-6:] == bytes.fromhex("020000aabbcc")
    pseudo = src + dst + struct.pack("!I3xB", len(icmp), 58)
    assert announce._checksum(pseudo + icmp) == 0     # a valid checksum sums to 0


def test_advertise_settings_as_dockerd():
    assert epopts.advertise_settings({}) == (3, 1.0)
    assert epopts.advertise_settings({epopts.NMSGS_OPT: "0", epopts.INTERVAL_OPT: "100"}) == \
        (0, 0.1)
    for opts, words in [
        ({epopts.NMSGS_OPT: "4"}, "advertise_addr_nmsgs must be in the range 0 to 3"),
        ({epopts.NMSGS_OPT: "-1"}, "advertise_addr_nmsgs must be in the range 0 to 3"),
        ({epopts.NMSGS_OPT: "nonsense"}, '"nonsense" must be an integer'),
        ({epopts.INTERVAL_OPT: "99"}, "advertise_addr_ms must be in the range 100 to 2000"),
        ({epopts.INTERVAL_OPT: "2001"}, "advertise_addr_ms must be in the range 100 to 2000"),
        ({epopts.INTERVAL_OPT: "x"}, '"x" must be integer milliseconds'),
    ]:
        with pytest.raises(InvalidParameter, match=words):
            epopts.advertise_settings(opts)
