"""The overlay driver: global-scope networks across hosts (VXLAN + etcd)."""

from .cluster import Cluster
from .driver import DisabledOverlay, OverlayDriver
from .setup import connect

__all__ = ["Cluster", "DisabledOverlay", "OverlayDriver", "connect"]
