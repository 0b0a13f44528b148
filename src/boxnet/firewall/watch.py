"""The periodic check that keeps boxnet's tables in place.

Someone running `nft flush ruleset`, a firewall manager reloading its own
rules, or a distribution's "firewall restart" wipes every table, boxnet's
included: containers would lose isolation, NAT and published ports without
anyone noticing (a classic Docker failure).  Every `interval` seconds the
firewall compares its chains with what it installed (a few small listings,
~1 ms) and re-renders both tables from state when they differ.
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import BoxnetError

log = logging.getLogger(__name__)


async def watch(firewall, interval: float) -> None:
    """Run `firewall.check()` forever, every `interval` seconds (0: return at
    once).  The daemon runs it as a background task of the controller's
    (cancelled at shutdown).  Foreign drop policies are logged by the firewall
    itself: at its first render and when one appears later."""
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            await firewall.check()
        except BoxnetError as exc:
            log.error("restoring boxnet's nftables tables failed: %s", exc.message)
        except Exception:  # keep watching: a bug here must not stop the daemon
            log.exception("firewall check failed")

