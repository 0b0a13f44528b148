"""Pure rendering of boxnet's nftables scripts (unit-testable, no kernel).

Isolation design: one `forward` base chain does a single verdict-map lookup
keyed by the input interface.  A packet leaving bridge X jumps to X's own
chain, which returns if it goes back out of X and drops it if it goes out of
any other boxnet bridge (a set lookup).  So the per-packet cost is two hash
lookups however many networks exist: no rule per pair of networks.
"""

from __future__ import annotations

from ..api import FirewallNetwork

TABLE = "boxnet"
FAMILY = "inet"


def chain_name(network_id: str) -> str:
    """Per-network isolation chain name."""
    return f"iso-{network_id[:12]}"


def _q(name: str) -> str:
    """Quote an interface name for nft (names are validated, no quotes inside)."""
    return '"' + name + '"'


def base_table() -> list[str]:
    """Declarations of the table skeleton (idempotent `add` commands)."""
    t = f"{FAMILY} {TABLE}"
    return [
        f"add table {t}",
        f"add set {t} bridges {{ type ifname; }}",
        f"add map {t} isolation {{ type ifname : verdict; }}",
        f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}",
    ]


def forward_rules() -> list[str]:
    """The base chain's only rule: dispatch on the input bridge."""
    return [f"add rule {FAMILY} {TABLE} forward iifname vmap @isolation"]


def network_rules(net: FirewallNetwork) -> list[str]:
    """Commands adding one network's chain and set/map elements."""
    t = f"{FAMILY} {TABLE}"
    ch = chain_name(net.network_id)
    br = _q(net.bridge)
    return [
        f"add chain {t} {ch}",
        f"flush chain {t} {ch}",
        f"add rule {t} {ch} oifname {br} return",
        f"add rule {t} {ch} oifname @bridges drop",
        f"add element {t} bridges {{ {br} }}",
        f"add element {t} isolation {{ {br} : jump {ch} }}",
    ]


def remove_network_rules(network_id: str, bridge: str) -> list[str]:
    """Commands removing one network (fail if absent: caller falls back to sync)."""
    t = f"{FAMILY} {TABLE}"
    ch = chain_name(network_id)
    br = _q(bridge)
    return [
        f"delete element {t} isolation {{ {br} }}",
        f"delete element {t} bridges {{ {br} }}",
        f"delete chain {t} {ch}",
    ]


def full_ruleset(networks: list[FirewallNetwork]) -> str:
    """The whole table, replacing whatever is there, as one transaction."""
    lines = [f"add table {FAMILY} {TABLE}", f"delete table {FAMILY} {TABLE}"]
    lines += base_table() + forward_rules()
    for net in networks:
        lines += network_rules(net)
    return "\n".join(lines) + "\n"


def teardown_script() -> str:
    """Remove the table if present (idempotent)."""
    return f"add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n"
