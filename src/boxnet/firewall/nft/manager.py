"""NftFirewall: applies the rendered scripts through libnftables.

Every change is one atomic transaction.  Incremental add/remove is the fast
path; if the kernel's table drifted (an element already gone, say), the
manager re-renders the whole table from the networks it knows.
"""

from __future__ import annotations

import logging

from ...errors import KernelError
from ..api import Firewall, FirewallNetwork
from . import ruleset

log = logging.getLogger(__name__)


class NftFirewall(Firewall):
    """Firewall backed by nftables' `inet boxnet` table."""

    def __init__(self):
        from ...kernel.nft import Nft
        self._nft = Nft()
        self._networks: dict[str, FirewallNetwork] = {}

    def _run(self, script: str) -> None:
        self._nft.run(script)

    async def sync(self, networks: list[FirewallNetwork]) -> None:
        """Replace the table with exactly these networks."""
        self._networks = {n.network_id: n for n in networks}
        self._run(ruleset.full_ruleset(list(self._networks.values())))

    async def add_network(self, net: FirewallNetwork) -> None:
        """Add one network; falls back to a full sync on drift."""
        self._networks[net.network_id] = net
        try:
            self._run("\n".join(ruleset.network_rules(net)) + "\n")
        except KernelError as exc:
            log.warning("nft incremental add failed (%s); re-syncing table", exc.message)
            await self.sync(list(self._networks.values()))

    async def remove_network(self, network_id: str) -> None:
        """Remove one network; falls back to a full sync on drift."""
        net = self._networks.pop(network_id, None)
        if net is None:
            return
        try:
            self._run("\n".join(ruleset.remove_network_rules(net.network_id, net.bridge)) + "\n")
        except KernelError as exc:
            log.warning("nft incremental remove failed (%s); re-syncing table", exc.message)
            await self.sync(list(self._networks.values()))

    async def teardown(self) -> None:
        """Remove boxnet's table."""
        self._networks.clear()
        self._run(ruleset.teardown_script())


