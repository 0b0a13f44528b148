"""The explicit registry of network drivers, by Docker's driver names."""

from __future__ import annotations

from typing import TypeVar

from ..errors import NotFound
from .api import Driver

A = TypeVar("A")


class DriverRegistry:
    """Maps driver names to driver instances."""

    def __init__(self, drivers: list[Driver]):
        self._drivers = {d.name: d for d in drivers}

    def get(self, name: str) -> Driver:
        """The driver called `name`, or NotFound as Docker words it."""
        try:
            return self._drivers[name]
        except KeyError:
            raise NotFound(f'plugin "{name}" not found') from None

    def ability(self, name: str, ability: type[A]) -> A | None:
        """The driver called `name` if it has `ability` (an interface of drivers/api.py),
        else None (also for a name no driver has: a stored network of a driver gone)."""
        drv = self._drivers.get(name)
        return drv if isinstance(drv, ability) else None

    def names(self) -> list[str]:
        """Registered driver names (for /info)."""
        return sorted(self._drivers)
