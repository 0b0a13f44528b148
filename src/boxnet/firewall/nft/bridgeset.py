"""Pure rendering of the ``bridge boxnet`` table: what a bridge port may send.

Every container port of a boxnet bridge is held to its own identity:

* its MAC (``epmac``), its IPv4 address (``ep4``, also for ARP senders);
* the addresses of its IPAMConfig.LinkLocalIPs, in ``ep4``/``ep6`` too;
* IPv6 sources: its global address and its own link-local address only
  (``ep6``).  The link-local is known without asking the kernel: boxnet sets
  ``addr_gen_mode=0`` (EUI-64) in every container netns before its interfaces
  exist (kernel/sysctl.py ``sandbox_defaults``), so it is derived from the
  MAC boxnet chose.  The unspecified source ``::`` is left to ICMPv6 only
  (DAD's neighbour solicitations and MLD reports sent before a link-local
  exists);
* a port is never a router: router advertisements, redirects and router
  renumbering from a port are dropped;
* a neighbour advertisement from a port must be for one of that port's own
  addresses (``na6``: the NA's target, read as raw payload because nft 1.0.6
  has no ``icmpv6 taddr``; so the set is typed by ``typeof`` and its
  elements are the 128-bit targets as integers);
* ICC off: frames between ports of an ICC-off bridge are dropped, except
  DNATed ones (published ports between containers, marked in the inet table);
  the ARP requests, IPv6 neighbour solicitations and IP packets for the out
  port's own address are logged first, rate-limited, for the flows'
  "dropped by ICC off".

The needed kernel has no NFT_BRIDGE_META (no `meta ibrname`), so every set
is keyed by bridge port (``iifname``).
"""

from __future__ import annotations

import ipaddress

B = "bridge boxnet"
# Packet mark bit of connections to published ports, set in the inet table and
# read in the bridge table (which has no conntrack here): with br_netfilter a
# DNATed packet between two containers of one ICC-off bridge is bridged, not
# routed, and must pass the ICC drop.
DNAT_MARK = "0x01000000"
# The target address of a neighbour advertisement: ICMPv6 type, code, checksum
# (32 bits) and flags/reserved (32 bits), then 128 bits of target.
NA_TARGET = "@th,64,128"
LOG_GROUP = 2001   # kernel/nflog.py's GROUP: the flows' dropped-packet log


def drop_log(cause: str) -> str:
    """A rule statement logging a dropped packet's first bytes to the flows'
    NFLOG group, at most 20 a second (the only per-packet work in Python)."""
    return f'limit rate 20/second burst 20 packets log prefix "boxnet-{cause} " group {LOG_GROUP}'

BRIDGE_SETS = [
    (B, "ports", "type ifname;"),
    (B, "epmac", "type ifname . ether_addr;"),
    (B, "ep4", "type ifname . ipv4_addr;"),
    (B, "ep6", "type ifname . ipv6_addr;"),     # global and link-local of each port
    (B, "na6", f"typeof iifname . {NA_TARGET};"),  # the same, as NA targets
    (B, "iccports", "type ifname;"),     # ports of ICC-off bridges
]

BRIDGE_CHAINS: dict[str, tuple[str | None, list[str]]] = {
    "prerouting": ("type filter hook prerouting priority filter; policy accept;", [
        "iifname != @ports accept",
        "iifname . ether saddr != @epmac drop",
        "iifname . ip saddr != @ep4 drop",
        "arp saddr ip != 0.0.0.0 iifname . arp saddr ip != @ep4 drop",
        "ip6 saddr :: meta l4proto != ipv6-icmp drop",
        "ip6 saddr != :: iifname . ip6 saddr != @ep6 drop",
        "icmpv6 type { nd-router-advert, nd-redirect, router-renumbering } drop",
        f"icmpv6 type nd-neighbor-advert iifname . {NA_TARGET} != @na6 drop",
    ]),
    "forward": ("type filter hook forward priority filter; policy accept;", [
        f"meta mark & {DNAT_MARK} == {DNAT_MARK} accept",
        # ICC off, logged for flows ("dropped by ICC off"): the ARP request
        # for the port's own address (the flood to the other ports is not an
        # attempt on them), and IPv4 to it (a neighbour entry already made)
        f"iifname @iccports oifname . arp daddr ip @ep4 {drop_log('icc')}",
        f"iifname @iccports oifname . ip daddr @ep4 {drop_log('icc')}",
        # the same for IPv6: the neighbour solicitation for the port's own address (its
        # target, raw as in na6), and IPv6 to it
        f"iifname @iccports icmpv6 type nd-neighbor-solicit oifname . {NA_TARGET} @na6 "
        f"{drop_log('icc')}",
        f"iifname @iccports oifname . ip6 daddr @ep6 {drop_log('icc')}",
        "iifname @iccports drop",
    ]),
}


def link_local(mac: str) -> str:
    """The EUI-64 link-local address the kernel gives an interface with ``mac``
    (addr_gen_mode 0): fe80:: + the MAC with the U/L bit flipped and ff:fe
    in the middle."""
    b = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(b) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    iid = bytes([b[0] ^ 0x02]) + b[1:3] + b"\xff\xfe" + b[3:6]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\0" * 6 + iid))


def _q(name: str) -> str:
    return '"' + name + '"'


def _elements(verb: str, name: str, items: list[str]) -> list[str]:
    return [f"{verb} element {B} {name} {{ {', '.join(items)} }}"] if items else []


def endpoint_elements(ep, verb: str = "add", icc: bool = True) -> list[str]:
    """One bridge port's elements (``ep``: a FirewallEndpoint): anti-spoofing,
    its own IPv6 sources and NA targets, and ICC off when its network says so."""
    i = _q(ep.host_ifname)
    out = _elements(verb, "ports", [i]) + _elements(verb, "epmac", [f"{i} . {ep.mac}"])
    if not icc:
        out += _elements(verb, "iccports", [i])
    if ep.ipv4:
        out += _elements(verb, "ep4", [f"{i} . {ep.ipv4}"])
    if ep.ipv6:
        out += _elements(verb, "ep6", [f"{i} . {ep.ipv6}"])
    # IPAMConfig.LinkLocalIPs are the port's own sources too (and NA targets)
    extra4 = [a for a in ep.link_local if ipaddress.ip_address(a).version == 4]
    extra6 = [a for a in ep.link_local if ipaddress.ip_address(a).version == 6]
    out += _elements(verb, "ep4", [f"{i} . {a}" for a in extra4])
    ll = link_local(ep.mac)
    out += _elements(verb, "ep6", [f"{i} . {a}" for a in dict.fromkeys([ll, *extra6])
                                   if a != ep.ipv6])
    own = list(dict.fromkeys([ll, *extra6] + ([ep.ipv6] if ep.ipv6 else [])))
    out += _elements(verb, "na6", [f"{i} . 0x{int(ipaddress.IPv6Address(a)):032x}"
                                   for a in own])
    return out
