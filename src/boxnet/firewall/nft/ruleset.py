"""Pure rendering of boxnet's nftables scripts (unit-testable, no kernel).

Two tables, both owned by boxnet and rebuilt whole from its state:

* ``inet boxnet``: routed traffic. Isolation, internal networks, masquerade,
  DNAT of published ports (prerouting for packets arriving, output for the
  host's own connections), hairpin masquerade, and the ``admin`` chain.
  Direct routing to a container address is dropped on every port unless the
  network's gateway mode (routed, nat-unprotected), its trusted host
  interfaces or --allow-direct-routing open it; loopback destinations that
  did not come from ``lo`` are dropped before conntrack and DNAT.
* ``bridge boxnet``: switched traffic inside one bridge: ICC off and
  anti-spoofing per bridge port, IPv6 layer 2 included (its sets, chains and
  elements are rendered by bridgeset.py).  The bridge family sees frames between
  ports whatever br_netfilter does: bridge-nf-call-iptables is a knob the
  host's admin (or another engine) may flip, and it is on by default on
  this kernel (built in), so the inet table also accepts "br . br" traffic
  explicitly instead of relying on either setting.  The needed kernel has no
  NFT_BRIDGE_META (no `meta ibrname`), so ICC is keyed by bridge port.

Every rule is fixed; what varies with networks, endpoints and ports is the
content of sets and maps, so a packet costs the same few hash lookups
whatever the scale, and adding one container or port adds only its elements.
"""

from __future__ import annotations

import ipaddress

from ..api import FirewallEndpoint, FirewallNetwork, PublishedPort
from .bridgeset import BRIDGE_CHAINS, BRIDGE_SETS, DNAT_MARK, LOG_GROUP, drop_log, \
    endpoint_elements  # noqa: F401
from .policyset import HOST_IN_JUMP, HOST_OUT_JUMP, POLICY_CHAINS, POLICY_MAPS, as_change, \
    policy_script

TABLE = "boxnet"
FAMILY = "inet"
T = f"{FAMILY} {TABLE}"
B = f"bridge {TABLE}"
ADMIN_CHAIN = "admin"
PROTOS = ("tcp", "udp", "sctp")

SETS = [
    (T, "bridges", "type ifname;"),          # every boxnet bridge
    (T, "internal", "type ifname;"),         # bridges of --internal networks
    (T, "samebr", "type ifname . ifname;"),  # "br . br": routed back into its own bridge
    (T, "subnets4", "type ipv4_addr; flags interval;"),
    (T, "subnets6", "type ipv6_addr; flags interval;"),
    (T, "masq4", "type ipv4_addr; flags interval;"),
    (T, "masq6", "type ipv6_addr; flags interval;"),
    # container side of published ports: via trusted interfaces / --allow-direct-routing
    (T, "direct4", "type ipv4_addr . inet_proto . inet_service;"),
    (T, "direct6", "type ipv6_addr . inet_proto . inet_service;"),
    # container side of published ports of `routed` networks: open to every interface
    (T, "open4", "type ipv4_addr . inet_proto . inet_service;"),
    (T, "open6", "type ipv6_addr . inet_proto . inet_service;"),
    (T, "routed4", "type ifname;"),          # bridges whose IPv4 gateway mode is routed
    (T, "routed6", "type ifname;"),
    (T, "unprot4", "type ifname;"),          # ... nat-unprotected (no direct-routing drop)
    (T, "unprot6", "type ifname;"),
    (T, "trusted", "type ifname . ifname;"),  # "host iface . bridge": trusted_host_interfaces
    (T, "anyiif", "type ifname;"),           # bridges open to direct routing (--allow-direct-routing)
    (T, "strict", "type ifname;"),           # bridges of isolate=strict networks (netavark 2)
    (T, "selfbr", "type ifname . ifname;"),  # "br . br" of strict bridges: their own ports
    *BRIDGE_SETS,                        # bridge table: firewall/nft/bridgeset.py
]
MAPS = [
    ("pub4", "type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;"),
    ("pub4any", "type inet_proto . inet_service : ipv4_addr . inet_service;"),
    ("pub6", "type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service;"),
    ("pub6any", "type inet_proto . inet_service : ipv6_addr . inet_service;"),
    # source subnet -> the host address it leaves with (host_ipv4 / host_ipv6)
    ("snat4", "type ipv4_addr : ipv4_addr; flags interval;"),
    ("snat6", "type ipv6_addr : ipv6_addr; flags interval;"),
    *POLICY_MAPS,                        # least-privilege policy: firewall/nft/policyset.py
]

def _logs(rule: str) -> bool:
    return rule.endswith(f" group {LOG_GROUP}")


def chain_rules(rules: list[str], flow_log: bool = True) -> list[str]:
    """A chain's rules; without the flows' log rules (a `drop_log` rule ends
    with its group) when ``flow_log`` is False (boxnetd --flows=off)."""
    return rules if flow_log else [r for r in rules if not _logs(r)]


# chain -> (hook declaration or None, rules).  Order of rules matters.
CHAINS: dict[str, tuple[str | None, list[str]]] = {
    # Before conntrack and DNAT (Docker's raw PREROUTING rule): a packet for the
    # host's loopback that did not come from `lo` was sent by a neighbour that put
    # the host's MAC on it (moby#45610, CVE-2020-8558).  It must never be DNATed
    # to a port published on 127.0.0.1 (route_localnet is on for our bridges).
    "rawpre": ("type filter hook prerouting priority raw; policy accept;", [
        'iifname != "lo" ip daddr 127.0.0.0/8 drop',
        'iifname != "lo" ip6 daddr ::1 drop',
    ]),
    "forward": ("type filter hook forward priority filter; policy accept;", [
        f"jump {ADMIN_CHAIN}",
        "ct state established,related accept",
        "jump allowlist",
        "iifname . oifname @samebr accept",
        "iifname @bridges jump egress",
        "oifname @bridges jump ingress",
    ]),
    # from a bridge to elsewhere; "br . br" of an ICC-off bridge lands here too
    # (it is not in @samebr), so its routed path is closed like its bridged one
    "egress": (None, [
        "iifname @internal drop",
        # isolate=strict: not even another network's published ports via the host
        "iifname @strict oifname @bridges iifname . oifname != @selfbr drop",
        "oifname @bridges ct status dnat accept",
        "oifname @bridges ip daddr . meta l4proto . th dport @open4 accept",
        "oifname @bridges ip6 daddr . meta l4proto . th dport @open6 accept",
        f"oifname @bridges {drop_log('isolation')}",   # flows' verdict (kernel/nflog.py)
        "oifname @bridges drop",
    ]),
    # into a bridge from a host interface: only published ports through the
    # host's address (DNAT), unless the network's gateway mode says otherwise
    "ingress": (None, [
        "ct status dnat accept",
        "ip daddr . meta l4proto . th dport @open4 accept",
        "ip6 daddr . meta l4proto . th dport @open6 accept",
        "meta nfproto ipv4 oifname @routed4 meta l4proto icmp accept",
        "meta nfproto ipv6 oifname @routed6 meta l4proto ipv6-icmp accept",
        "meta nfproto ipv4 oifname @unprot4 accept",
        "meta nfproto ipv6 oifname @unprot6 accept",
        "iifname . oifname @trusted jump direct",
        "oifname @anyiif jump direct",
        drop_log("direct-routing"),
        "drop",
    ]),
    "direct": (None, [
        "ip daddr . meta l4proto . th dport @direct4 accept",
        "ip6 daddr . meta l4proto . th dport @direct6 accept",
    ]),
    **POLICY_CHAINS,
    "poldrop": (None, [drop_log("policy"), "drop"]),   # a policy's drop, logged for flows
    "input": ("type filter hook input priority filter; policy accept;", [
        # route_localnet is on for bridges (host loopback DNAT); never let a
        # container open a connection to the host's 127.0.0.0/8 through it.
        "iifname @bridges ip daddr 127.0.0.0/8 ct state != { established, related } drop",
        HOST_IN_JUMP,   # a policied container's egress to the host (policyset.py)
        "iifname @internal ct state established,related accept",
        "iifname @internal icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
        "iifname @internal drop",
    ]),
    # the host's own connections to containers, after the output DNAT: their ingress policy
    "outfilter": ("type filter hook output priority filter; policy accept;", [HOST_OUT_JUMP]),
    "prerouting": ("type nat hook prerouting priority dstnat; policy accept;", [
        "fib daddr type local jump publish",
    ]),
    "output": ("type nat hook output priority -100; policy accept;", [
        "fib daddr type local jump publish",
    ]),
    "publish": (None, [
        "dnat ip to ip daddr . meta l4proto . th dport map @pub4",
        "meta nfproto ipv4 dnat ip to meta l4proto . th dport map @pub4any",
        "dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub6",
        "meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @pub6any",
    ]),
    "markdnat": ("type filter hook prerouting priority -90; policy accept;", [
        f"ct status dnat meta mark set meta mark | {DNAT_MARK}",
    ]),
    "postrouting": ("type nat hook postrouting priority srcnat; policy accept;", [
        "oifname @bridges ip saddr 127.0.0.0/8 masquerade",
        "ct status dnat ip saddr @subnets4 masquerade",
        "ct status dnat ip6 saddr @subnets6 masquerade",
        # a failed map lookup ends the rule: the subnets not in it go on
        "oifname != @bridges snat ip to ip saddr map @snat4",
        "oifname != @bridges snat ip6 to ip6 saddr map @snat6",
        "oifname != @bridges ip saddr @masq4 masquerade",
        "oifname != @bridges ip6 saddr @masq6 masquerade",
    ]),
}


def _q(name: str) -> str:
    """Quote an interface name for nft (names are validated, no quotes inside)."""
    return '"' + name + '"'


def expected_rule_counts(flow_log: bool = True) -> dict[tuple[str, str], int]:
    """(table, chain) -> number of rules boxnet installs (for drift checks)."""
    out = {(T, name): len(chain_rules(rules, flow_log)) for name, (_, rules) in CHAINS.items()}
    out.update({(B, name): len(chain_rules(rules, flow_log))
                for name, (_, rules) in BRIDGE_CHAINS.items()})
    return out


def skeleton(admin_rules: str = "", flow_log: bool = True) -> list[str]:
    """Both tables from scratch: sets, maps, chains, fixed rules, admin chain
    (the flows' log rules only with ``flow_log``)."""
    lines = [f"add table {T}", f"delete table {T}", f"add table {B}", f"delete table {B}",
             f"add table {T}", f"add table {B}"]
    lines += [f"add set {t} {name} {{ {decl} }}" for t, name, decl in SETS]
    lines += [f"add map {T} {name} {{ {decl} }}" for name, decl in MAPS]
    lines.append(f"add chain {T} {ADMIN_CHAIN}")
    for table, chains in ((T, CHAINS), (B, BRIDGE_CHAINS)):
        for name, (hook, _) in chains.items():
            lines.append(f"add chain {table} {name}" + (f" {{ {hook} }}" if hook else ""))
        for name, (_, rules) in chains.items():
            lines += [f"add rule {table} {name} {r}" for r in chain_rules(rules, flow_log)]
    if admin_rules.strip():
        lines.append(admin_rules.strip())
    return lines


def _elements(verb: str, table: str, name: str, items: list[str]) -> list[str]:
    return [f"{verb} element {table} {name} {{ {', '.join(items)} }}"] if items else []


def _split_subnets(subnets) -> tuple[list[str], list[str]]:
    v4 = [s for s in subnets if ipaddress.ip_network(s, strict=False).version == 4]
    v6 = [s for s in subnets if ipaddress.ip_network(s, strict=False).version == 6]
    return v4, v6


def network_elements(net: FirewallNetwork, verb: str = "add",
                     allow_direct: bool = False) -> list[str]:
    """One network's elements (verb "add" or "delete").

    ``allow_direct`` is the daemon's --allow-direct-routing: every non-internal
    bridge then accepts direct routing to its published ports from anywhere.
    """
    br = _q(net.bridge)
    v4, v6 = _split_subnets(net.subnets)
    out = _elements(verb, T, "bridges", [br])
    if net.icc:  # ICC off: "br . br" is not accepted as such (the routed path, item 7)
        out += _elements(verb, T, "samebr", [f"{br} . {br}"])
    out += _elements(verb, T, "subnets4", v4) + _elements(verb, T, "subnets6", v6)
    if net.internal:
        return out + _elements(verb, T, "internal", [br])
    if net.strict:
        out += _elements(verb, T, "strict", [br]) + _elements(verb, T, "selfbr", [f"{br} . {br}"])
    for fam, mode, subnets, snat in (("4", net.mode4, v4, net.snat4),
                                     ("6", net.mode6, v6, net.snat6)):
        if mode == "routed":
            out += _elements(verb, T, f"routed{fam}", [br])
            continue
        if net.masquerade and snat:
            out += _elements(verb, T, f"snat{fam}", [
                s if verb == "delete" else f"{s} : {snat}" for s in subnets])
        elif net.masquerade:
            out += _elements(verb, T, f"masq{fam}", subnets)
        if mode == "nat-unprotected":
            out += _elements(verb, T, f"unprot{fam}", [br])
    out += _elements(verb, T, "trusted", [f"{_q(i)} . {br}" for i in net.trusted])
    if allow_direct:
        out += _elements(verb, T, "anyiif", [br])
    return out


def port_elements(ports: list[PublishedPort], verb: str = "add") -> list[str]:
    """DNAT map elements of published ports, one command per map (none for
    ports of `routed` networks: their host port is not used)."""
    groups: dict[str, list[str]] = {}
    for p in ports:
        if p.mode == "routed":
            continue
        fam = "4" if p.family == 4 else "6"
        target = f"{p.container_ip} . {p.container_port}"
        if p.host_ip:
            key, name = f"{p.host_ip} . {p.proto} . {p.host_port}", f"pub{fam}"
        else:
            key, name = f"{p.proto} . {p.host_port}", f"pub{fam}any"
        groups.setdefault(name, []).append(key if verb == "delete" else f"{key} : {target}")
    out = []
    for name, items in groups.items():
        out += _elements(verb, T, name, items)
    return out


def direct_key(p: PublishedPort) -> tuple:
    """The container side of a published port: (set, family, ip, proto, port).

    Set "open" (a `routed` network: open to every interface and to other
    networks) or "direct" (a nat network: only through a trusted host
    interface or with --allow-direct-routing; loopback-published ports
    included, as in Docker).
    """
    kind = "open" if p.mode == "routed" else "direct"
    return (kind, p.family, p.container_ip, p.proto, p.container_port)


def direct_elements(keys, verb: str = "add") -> list[str]:
    """Elements of the open/direct sets for direct_key() keys."""
    out = []
    for kind in ("direct", "open"):
        for fam in (4, 6):
            items = [f"{ip} . {proto} . {port}" for k, f, ip, proto, port in keys
                     if k == kind and f == fam]
            out += _elements(verb, T, f"{kind}{fam}", items)
    return out


def full_ruleset(networks: list[FirewallNetwork], endpoints: list[FirewallEndpoint] = (),
                 ports: list[PublishedPort] = (), admin_rules: str = "",
                 allow_direct: bool = False, policy: dict | None = None,
                 flow_log: bool = True) -> str:
    """Both tables, replacing whatever is there, as one transaction
    (``policy``: the policy state, policyset.py ``apply``; ``flow_log``: the
    flows' drop log rules, off with boxnetd --flows=off)."""
    lines = skeleton(admin_rules, flow_log)
    for net in networks:
        lines += network_elements(net, allow_direct=allow_direct)
    icc = {n.network_id: n.icc for n in networks}
    for ep in endpoints:
        lines += endpoint_elements(ep, icc=icc.get(ep.network_id, True))
    lines += port_elements(list(ports))
    lines += direct_elements(sorted(set(map(direct_key, ports))))
    if policy:
        lines += policy_script(as_change(policy))
    return "\n".join(lines) + "\n"


def script(lines: list[str]) -> str:
    """Join commands into one transaction."""
    return "\n".join(lines) + "\n"


def teardown_script() -> str:
    """Remove both tables if present (idempotent)."""
    return script([f"add table {T}", f"delete table {T}", f"add table {B}", f"delete table {B}"])
