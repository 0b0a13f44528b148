"""The store interface: typed put/get/delete of model objects by kind and id."""

from __future__ import annotations

import abc
from typing import Iterator, TypeVar

import msgspec

T = TypeVar("T", bound=msgspec.Struct)

KINDS = ("networks", "endpoints", "containers", "dhcp_leases",
         "plugin_overlays")   # Docker network id -> boxnet overlay (core/external_overlay.py)


class Store(abc.ABC):
    """Persists model objects; every write is durable when the call returns."""

    @abc.abstractmethod
    def put(self, kind: str, obj_id: str, obj: msgspec.Struct) -> None:
        """Insert or replace one object."""

    @abc.abstractmethod
    def delete(self, kind: str, obj_id: str) -> None:
        """Remove one object (no error if absent)."""

    @abc.abstractmethod
    def load(self, kind: str, typ: type[T]) -> Iterator[T]:
        """Every stored object of a kind, decoded."""

    @abc.abstractmethod
    def transaction(self):
        """Context manager grouping several writes into one atomic commit."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and close."""
