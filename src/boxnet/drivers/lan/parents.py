"""The parents of macvlan and ipvlan networks: the `parent` option read as a
ParentSpec, the parents in use (one registry for both drivers, so they cannot
fight over a parent), and the 802.1q and dummy parents boxnet creates and removes.

Docker's rules: `-o parent=IFACE` names the host interface the containers'
links hang off; `IFACE.VLAN` (eth1.50) is created as an 802.1q sub-interface
when it does not exist and removed with the last network using it; no parent
(or `--internal`) makes an internal-only network on a dummy parent
`dm-<id12>`. boxnet only ever deletes links it marked (ifalias
`boxnet:<owner>:vlan|dummy`, this daemon's own mark: kernel/linkmark.py); a
parent the user gave, or one another boxnetd made, is never deleted.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ...errors import Conflict, InvalidParameter, NotImplementedFeature
from ...kernel import features
from ...kernel.links import LanLinks
from ...model import Network
from .options import OPT_PARENT

VLAN_KIND, DUMMY_KIND = "vlan", "dummy"   # kinds of the ownership marks
IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")   # the kernel's rules for a link name
VLAN_RE = re.compile(r"^(?P<base>.+)\.(?P<vid>[0-9]+)$")


class ParentSpec(NamedTuple):
    """The parent a network uses, and what boxnet must create for it."""

    name: str                     # the link the containers' links hang off
    vlan_base: str | None = None  # for IFACE.VLAN: IFACE
    vlan_id: int = 0
    dummy: bool = False           # internal-only network: a dummy parent


class Claim(NamedTuple):
    """One network's use of a parent."""

    network_id: str
    network_name: str
    driver: str
    mode: str
    flag: str = ""


def parent_spec(nw: Network) -> ParentSpec:
    """The network's parent as Docker reads `-o parent` and `--internal`."""
    parent = str(nw.options.get(OPT_PARENT, "")).strip()
    if nw.internal or not parent:
        return ParentSpec(name="dm-" + nw.id[:12], dummy=True)
    if not IFNAME_RE.match(parent):
        raise InvalidParameter(f"invalid parent interface name {parent!r}: at most 15 "
                               "characters, no spaces, '/' or ':'")
    m = VLAN_RE.match(parent)
    if m is None:
        return ParentSpec(name=parent)
    vid = int(m["vid"])
    if not 1 <= vid <= 4094:
        raise InvalidParameter(f"invalid VLAN id {vid} in parent {parent}: it must be 1-4094")
    return ParentSpec(name=parent, vlan_base=m["base"], vlan_id=vid)


class LanParents:
    """Parents in use by macvlan/ipvlan networks; the links boxnet makes for them."""

    def __init__(self, links: LanLinks):
        self.links = links
        self._claims: dict[str, dict[str, Claim]] = {}

    def claims_on(self, parent: str) -> list[Claim]:
        """The other networks using `parent`."""
        return list(self._claims.get(parent, {}).values())

    def check(self, spec: ParentSpec, claim: Claim, conflicts) -> None:
        """Raise Conflict if `claim` cannot share its parent with the existing claims;
        `conflicts(claim, other)` returns the driver's own reason or None."""
        for other in self.claims_on(spec.name):
            if other.network_id == claim.network_id:
                continue
            if other.driver != claim.driver:
                raise Conflict(f"parent {spec.name} is already used by {other.driver} network "
                               f"{other.network_name}: one parent carries either macvlan or "
                               "ipvlan links, not both")
            why = conflicts(claim, other)
            if why:
                raise Conflict(why)

    async def acquire(self, spec: ParentSpec, claim: Claim, restoring: bool) -> None:
        """Make sure the parent exists (creating an 802.1q or dummy parent), then
        register the claim. Raises with nothing left behind."""
        link = await self.links.parent(spec.name)
        if link is None:
            if spec.dummy:
                if not features.probe("dummy"):
                    raise NotImplementedFeature(
                        "an internal-only (no -o parent, or --internal) network needs a dummy "
                        f"parent link: {features.missing_reason('dummy')}")
                await self.links.create_dummy(spec.name, self.links.mark(DUMMY_KIND))
            elif spec.vlan_base is not None:
                if not features.probe("vlan"):
                    raise NotImplementedFeature(
                        f"parent {spec.name} is an 802.1q VLAN sub-interface that does not "
                        f"exist yet, and {features.missing_reason('vlan')}")
                await self.links.create_vlan(spec.name, spec.vlan_base, spec.vlan_id,
                                             self.links.mark(VLAN_KIND))
            else:
                raise InvalidParameter(f"-o parent interface was not found on the host: "
                                       f"{spec.name}")
        elif link.master and not restoring:
            raise InvalidParameter(f"parent {spec.name} is a port of {link.master}: a "
                                   f"{claim.driver} parent must not be enslaved to a bridge or "
                                   f"bond (use {link.master} itself, or another interface)")
        self._claims.setdefault(spec.name, {})[claim.network_id] = claim

    async def release(self, spec: ParentSpec, network_id: str) -> None:
        """Drop a network's claim; delete the parent if boxnet made it and nobody uses it."""
        mine = self._claims.get(spec.name, {})
        mine.pop(network_id, None)
        if mine:
            return
        self._claims.pop(spec.name, None)
        if spec.dummy:
            await self.links.delete_if_owned(spec.name, self.links.mark(DUMMY_KIND))
        elif spec.vlan_base is not None:
            await self.links.delete_if_owned(spec.name, self.links.mark(VLAN_KIND))
