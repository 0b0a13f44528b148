"""The LAN drivers, macvlan and ipvlan: containers as their own devices on a host
interface's segment, without a bridge or NAT (Docker's drivers of those names).

- ``parents.py``: the `parent` option, the parents in use (shared by both
  drivers), and the 802.1q and dummy parents boxnet makes (ownership-marked);
- ``options.py``: the option readers both drivers use;
- ``base.py``: ``LanDriver``, the Driver logic they share, with the abstract
  methods each of them defines;
- ``macvlan.py``, ``ipvlan.py``: the two drivers.

The kernel side (links, shims, routes) is kernel/links.py.
"""

from __future__ import annotations

import asyncio

from ...kernel import features
from ...kernel.links import LanLinks
from .base import LanDriver
from .ipvlan import IpvlanDriver
from .macvlan import MacvlanDriver
from .parents import LanParents

__all__ = ["IpvlanDriver", "LanDriver", "MacvlanDriver", "lan_drivers"]


async def lan_drivers(nl, leases=None) -> list[LanDriver]:
    """The macvlan and ipvlan drivers sharing one parent registry (and the daemon's
    DHCP LeaseKeeper, dhcp/leases.py); probes the kernel (in a worker thread) so
    that `network create` can name a missing feature."""
    await asyncio.to_thread(features.probe, "macvlan")  # probes every kind at once
    parents = LanParents(LanLinks(nl))
    return [MacvlanDriver(parents, leases), IpvlanDriver(parents, leases)]
