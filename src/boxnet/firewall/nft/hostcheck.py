"""Find other nftables tables on the host that would drop boxnet's traffic.

nftables runs every base chain of a hook, table after table: an accept in
boxnet's table does not stop another table's chain from dropping the same
packet.  A forward chain with policy drop (iptables-nft's FORWARD after
`iptables -P FORWARD DROP`, firewalld, ufw...) therefore silently breaks
outbound traffic and published ports.  We cannot fix someone else's table,
so we say so plainly, with the rule to add.
"""

from __future__ import annotations

from .ruleset import TABLE


def foreign_drop_warnings(listing: dict, bridges: list[str]) -> list[str]:
    """Warnings for foreign base chains on the forward hook with policy drop.

    ``listing`` is libnftables' JSON for ``list chains``.
    """
    out = []
    for obj in listing.get("nftables", []):
        ch = obj.get("chain")
        if not ch or ch.get("hook") != "forward" or ch.get("policy") != "drop":
            continue
        fam, table, name = ch.get("family"), ch.get("table"), ch.get("name")
        if table == TABLE and fam in ("inet", "bridge"):
            continue
        if fam not in ("ip", "ip6", "inet"):
            continue
        ifs = ", ".join(f'"{b}"' for b in bridges) or '"boxnet0", "br-*"'
        out.append(
            f"nftables chain '{fam} {table} {name}' (hook forward, policy drop) will drop "
            f"traffic boxnet forwards for its containers (outbound and published ports). "
            f"Fix: nft insert rule {fam} {table} {name} iifname {{ {ifs} }} accept; "
            f"nft insert rule {fam} {table} {name} oifname {{ {ifs} }} accept "
            f"(boxnet's own table still enforces isolation).")
    return out
