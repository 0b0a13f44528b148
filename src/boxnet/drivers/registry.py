"""The explicit registry of network drivers, by Docker's driver names."""

from __future__ import annotations

from ..errors import NotFound
from .api import Driver


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

    def names(self) -> list[str]:
        """Registered driver names (for /info)."""
        return sorted(self._drivers)
