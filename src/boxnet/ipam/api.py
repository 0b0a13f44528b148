"""The IPAM interface (DESIGN.md): request/release pool, request/release address.

The allocator's state is derived: the daemon rebuilds it at start from the
networks and endpoints in the store, so the store stays the one source of truth.
"""

from __future__ import annotations

import abc
import ipaddress

import msgspec


class PoolRequest(msgspec.Struct, kw_only=True):
    """What a network asks of IPAM for one address family."""

    v6: bool = False
    subnet: str | None = None        # user-given subnet, or None for a predefined pool
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: dict[str, str] = {}


class Pool(msgspec.Struct, kw_only=True):
    """A granted pool. pool_id is the canonical subnet string."""

    pool_id: str
    subnet: str            # e.g. "172.18.0.0/16"
    gateway: str | None    # plain address, e.g. "172.18.0.1"
    ip_range: str | None
    aux_addresses: dict[str, str]
    user_subnet: bool


class Ipam(abc.ABC):
    """Allocates subnets to networks and addresses to endpoints."""

    @abc.abstractmethod
    def request_pool(self, req: PoolRequest,
                     avoid: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> Pool:
        """Validate and reserve a subnet; `avoid` are host routes to skip."""

    @abc.abstractmethod
    def restore_pool(self, pool: Pool) -> None:
        """Re-register a pool read back from the store (daemon start)."""

    @abc.abstractmethod
    def release_pool(self, pool_id: str) -> None:
        """Forget a pool and every address in it."""

    @abc.abstractmethod
    def request_address(self, pool_id: str, preferred: str | None = None) -> str:
        """Allocate one address (plain, no prefix) from the pool."""

    @abc.abstractmethod
    def reserve_address(self, pool_id: str, address: str) -> None:
        """Mark an address read back from the store as taken (daemon start)."""

    @abc.abstractmethod
    def release_address(self, pool_id: str, address: str) -> None:
        """Return an address to the pool (no error if it was free)."""

    @abc.abstractmethod
    def usage(self, pool_id: str) -> dict:
        """Allocation status for inspect: counts of total, allocated, free."""
