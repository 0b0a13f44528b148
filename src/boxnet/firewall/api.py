"""The firewall interface: the core tells it which bridge networks exist.

Implementations keep the whole ruleset derived from this one input, so a
restart reconciles by rendering it again.
"""

from __future__ import annotations

import abc

import msgspec


class FirewallNetwork(msgspec.Struct, frozen=True, kw_only=True):
    """What the firewall needs to know about one bridge network."""

    network_id: str
    bridge: str
    subnets: tuple[str, ...] = ()
    internal: bool = False
    icc: bool = True
    masquerade: bool = True


class Firewall(abc.ABC):
    """Programs packet filtering for bridge networks."""

    @abc.abstractmethod
    async def sync(self, networks: list[FirewallNetwork]) -> None:
        """Make the kernel ruleset match exactly these networks (atomic)."""

    @abc.abstractmethod
    async def add_network(self, net: FirewallNetwork) -> None:
        """Add one network's rules (atomic)."""

    @abc.abstractmethod
    async def remove_network(self, network_id: str) -> None:
        """Remove one network's rules (atomic; no error if absent)."""

    @abc.abstractmethod
    async def teardown(self) -> None:
        """Remove everything this firewall installed."""
