"""IpvlanDriver: containers share the parent's MAC; L2 or routed (L3) addressing.

Options (Docker's): `parent=IFACE` (or `IFACE.VLAN`), `ipvlan_mode=l2|l3|l3s`
(default l2), `ipvlan_flag=bridge|private|vepa` (default bridge).

The mode and flag belong to the parent (the kernel keeps one ipvlan "port"
per parent: a new link with another mode would switch every existing one),
so every ipvlan network on a parent must use the same mode and flag.

In L3/L3S mode the kernel routes between the containers' links and the parent
inside the host's stack: there is no ARP on the containers' side, several
subnets can share one parent, and the LAN needs routes to the containers'
subnets via the host's address (see docs/macvlan.md). The default route that
the core points at the network's gateway works as a plain device route
there (the link is NOARP: the next hop is never resolved).

This kernel may lack ipvlan: network create then fails with the probe's reason.
"""

from __future__ import annotations

from ...errors import InvalidParameter
from ...kernel.links import IPVLAN_FLAGS, IPVLAN_MODES
from ...model import Network
from .base import LanDriver
from .options import OPT_HOST_ACCESS, choice
from .parents import Claim, ParentSpec

OPT_MODE = "ipvlan_mode"
OPT_FLAG = "ipvlan_flag"


class IpvlanDriver(LanDriver):
    """Docker's ipvlan driver."""

    name = "ipvlan"
    kind = "ipvlan"
    shares_parent_mac = True   # every link has the parent's MAC: DHCP needs another client id
    option_keys = (OPT_HOST_ACCESS,)  # known, so that validate_extra explains the refusal

    def modes(self, nw: Network) -> tuple[str, str]:
        """ipvlan_mode (default l2) and ipvlan_flag (default bridge)."""
        return (choice(nw, OPT_MODE, IPVLAN_MODES, "l2"),
                choice(nw, OPT_FLAG, IPVLAN_FLAGS, "bridge"))

    def kernel_mode(self, mode: str, flag: str) -> tuple[int, int]:
        """The kernel's IPVLAN_MODE_* and IPVLAN_F_* values."""
        return IPVLAN_MODES[mode], IPVLAN_FLAGS[flag]

    def conflict(self, claim: Claim, other: Claim) -> str | None:
        """One mode and flag per parent (the kernel's ipvlan port is shared)."""
        if (claim.mode, claim.flag) != (other.mode, other.flag):
            return (f"ipvlan network {other.network_name} already uses this parent in mode "
                    f"{other.mode} ({other.flag}); every ipvlan network on one parent must use "
                    f"the same ipvlan_mode and ipvlan_flag")
        return None

    def validate_extra(self, nw: Network, spec: ParentSpec, mode: str) -> None:
        """The host shim is a macvlan feature."""
        if OPT_HOST_ACCESS in nw.options:
            raise InvalidParameter(f"{OPT_HOST_ACCESS} is a macvlan option; the ipvlan "
                                   "driver has no host shim")
