"""The bridge driver: a Linux bridge per network, a veth pair per endpoint."""

from .driver import BridgeDriver

__all__ = ["BridgeDriver"]
