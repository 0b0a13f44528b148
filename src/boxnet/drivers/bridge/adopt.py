"""Which bridges a network may delete: the ones this daemon created.

A bridge boxnet creates carries this daemon's ``bridge`` mark (IFLA_IFALIAS,
kernel/linkmark.py).  A bridge that existed before, adopted through
``com.docker.network.bridge.name`` (or another daemon's bridge, or a user's
``boxnet0``), never carries it, and is never deleted: `network rm` removes
only boxnet's state on it (the firewall entries; the containers' veths went
with their endpoints).  As Docker does for a bridge it did not create, the
bridge itself stays as it is, up, with the gateway addresses the network put
on it (libnetwork's bridge driver deletes only bridges it created).

A bridge named ``br-<12 hex of the network id>`` found unmarked at restore
was made by a boxnet from before these marks (the name comes from this
network's own random id): it gets the mark then, so it is removed with its
network as before.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
KIND = "bridge"


async def bring_up(nl, nw, bridge: str, mtu: int | None, addrs: list[str],
                   restoring: bool) -> bool:
    """Create (marked) or adopt ``bridge``, with ``addrs``, up; True if created now."""
    created = await nl.ensure_bridge(bridge, mtu=mtu, addrs=addrs, alias=nl.mark(KIND))
    if created:
        return True
    alias = await nl.link_alias(bridge)
    if restoring and bridge == "br-" + nw.id[:12] and alias == "":
        await nl.set_alias(bridge, nl.mark(KIND))
    elif alias and alias.startswith("boxnet:") and not nl.is_mine(alias):
        log.warning("bridge %s belongs to another boxnetd (%s): this daemon's containers on "
                    "it are not covered by that daemon's firewall (give each daemon its own "
                    "bridges, e.g. boxnetd --bridge)", bridge, alias)
    return False


async def remove(nl, bridge: str) -> bool:
    """Retire ``bridge`` if this daemon created it; keep it otherwise.  True if retired."""
    alias = await nl.link_alias(bridge)
    if alias is None:
        return False
    if nl.is_mine(alias, KIND):
        await nl.retire_link(bridge)
        return True
    log.info("bridge %s was not created by this daemon (%s): kept, only boxnet's "
             "firewall entries were removed", bridge,
             f"alias {alias!r}" if alias else "no boxnet mark")
    return False
