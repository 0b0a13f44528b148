"""A firewall that installs nothing (for hosts without nftables)."""

from .api import Firewall, FirewallNetwork


class NoFirewall(Firewall):
    """No-op firewall: networks are not isolated from each other."""

    async def sync(self, networks: list[FirewallNetwork]) -> None:
        """Nothing to do."""

    async def add_network(self, net: FirewallNetwork) -> None:
        """Nothing to do."""

    async def remove_network(self, network_id: str) -> None:
        """Nothing to do."""

    async def teardown(self) -> None:
        """Nothing to do."""
