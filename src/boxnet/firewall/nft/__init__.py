"""nftables firewall: boxnet's own `inet boxnet` table, changed atomically."""

from .manager import NftFirewall

__all__ = ["NftFirewall"]
