"""The lifecycle listener that keeps the policy sets equal to the containers now running.

Every event that changes who has which address (a sandbox ready, an endpoint
joined or left, a container stopped, removed or renamed, a network created
or removed) brings the policy sets up to date with all running containers'
policies and the current endpoints (policy/plan.py: group sets by membership,
one chain per distinct policy, the endpoints' verdict map elements), and hands
the difference to the firewall, one nftables transaction.  An event of one
container recomputes only that container (its policy and addresses now:
``Planner.update_containers``, in time proportional to what it touches); a
network's event, the daemon's restore and a caller naming no container
recompute everything.  So a name in a
rule means the endpoints of that moment: a new replica of ``app`` is allowed
before its process starts (``sandbox_ready`` fails the start if the sets
cannot be written), and a removed one is revoked while its endpoint goes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import TYPE_CHECKING

from ..errors import InvalidParameter
from ..policy import compile as pcompile
from ..policy.plan import Planner
from ..policy.model import LABEL, PolicyError, from_labels
from . import policycheck
from .events import LifecycleListener

if TYPE_CHECKING:
    from ..model import Container, Endpoint, Network

log = logging.getLogger(__name__)


def validate_labels(labels: dict[str, str]) -> None:
    """Refuse a container whose com.boxnet.policy label is not a valid policy (400)."""
    try:
        from_labels(labels)
    except PolicyError as exc:
        raise InvalidParameter(f"invalid policy: {exc}") from None


class PolicyKeeper(LifecycleListener):
    """Recompiles and applies the policy sets on every endpoint change."""

    def __init__(self, ctl):
        """``ctl``: the Controller (its containers, endpoints, networks, firewall)."""
        self.ctl = ctl
        self._lock = asyncio.Lock()
        self._sets = Planner()   # what the firewall holds now, kept by differences
        self._parsed: dict[str, tuple[str, object]] = {}   # container id -> (label, Policy)
        # False while the Planner's inventory may lag the controller's (never
        # filled yet, or refreshes skipped while no policy existed): the next
        # refresh is a full one
        self._synced = False

    def _policy_of(self, c):
        """The container's Policy (None without one), parsed once per label value."""
        value = c.config.labels.get(LABEL)
        if value is None:
            return None
        hit = self._parsed.get(c.id)
        if hit is None or hit[0] != value:
            hit = (value, from_labels(c.config.labels))
            self._parsed[c.id] = hit
        return hit[1]

    def _networks(self) -> dict:
        nets = {}
        for nw in self.ctl.networks.values():
            subnets = tuple(p.subnet for p in nw.pools)
            nets[nw.name] = subnets
            nets[nw.id] = subnets
        return nets

    def _own(self, cid: str, c, eps, skip_ep: str = "") -> tuple:
        """One container's (Policy or None, Members) now."""
        ctl = self.ctl
        labels = c.config.labels
        members = []
        for ep in eps.values():
            if ep.id == skip_ep:
                continue
            nw = ctl.networks.get(ep.network_id)
            for addr in (ep.ipv4, ep.ipv6):
                if addr:
                    members.append(pcompile.Member(
                        container_id=cid, name=c.name.lstrip("/"),
                        service=labels.get(pcompile.COMPOSE_SERVICE, ""),
                        project=labels.get(pcompile.COMPOSE_PROJECT, ""),
                        network=nw.name if nw else "",
                        ip=str(ipaddress.ip_interface(addr).ip)))
        try:
            pol = self._policy_of(c)
        except PolicyError as exc:   # validated at create; a stored one may predate that
            log.error("container %s: policy ignored: %s", c.name, exc)
            pol = None
        return pol, members

    def _inventory(self, skip_ep: str = "", skip_cid: str = ""):
        ctl = self.ctl
        members, policies = [], {}
        for cid, eps in ctl.eps_by_container.items():
            c = ctl.containers.get(cid)
            if c is None or cid == skip_cid:
                continue
            pol, own = self._own(cid, c, eps, skip_ep)
            members += own
            if pol is not None:
                policies[cid] = pol
        return policies, members, self._networks()

    def _inventory_of(self, cid: str, skip_ep: str = "", skip_cid: str = "") -> tuple:
        """``_inventory``'s part of one container: (Policy or None, Members)."""
        c = self.ctl.containers.get(cid)
        eps = self.ctl.eps_by_container.get(cid)
        if c is None or eps is None or cid == skip_cid:
            return None, []
        return self._own(cid, c, eps, skip_ep)

    @property
    def elements(self) -> pcompile.Elements:
        """The pair elements of policy/compile.py that the firewall's groups,
        chains and maps enforce now (built on demand: diagnose, the UI;
        tests/unit/test_policy_plan.py checks both mean the same)."""
        if self._sets.empty():
            return pcompile.Elements()
        return pcompile.compile_policies(*self._inventory())

    async def refresh(self, skip_ep: str = "", skip_cid: str = "",
                      cid: str | None = None) -> None:
        """Bring the firewall up to date with the current state: the difference
        (policy/plan.py) is one transaction.  ``cid``: only that container
        changed since the last refresh (an event of its own); None: anything
        may have (everything is recomputed)."""
        async with self._lock:
            if self._sets.empty() and not any(
                    LABEL in c.config.labels for c in self.ctl.containers.values()):
                self._synced = False   # the Planner's inventory is not kept meanwhile
                return   # no policy anywhere: nothing to compile (the common case)
            if cid is not None and self._synced:
                change = self._sets.update_containers(
                    {cid: self._inventory_of(cid, skip_ep, skip_cid)}, self._networks())
            else:
                policies, members, nets = self._inventory(skip_ep, skip_cid)
                change = self._sets.update(policies, members, nets)
                self._synced = True
            if change:
                await self.ctl.firewall.update_policy(change)

    def check_create(self, name: str | None, cfg) -> list[str]:
        """Before a create records anything: a 400 for a policy that contradicts
        itself or the engine (an unknown network, a published port its ingress
        closes to every outside address); the create response's Warnings for
        names that match no container yet (core/policycheck.py)."""
        ctl = self.ctl
        return policycheck.check_create(cfg, name or "",
                                        lambda n: ctl.network_or_none(n) is not None,
                                        list(ctl.containers.values()))

    def explain(self, src: str, dst: str, port: int = 0, proto: str = "tcp"):
        """The policy's verdict on a new connection src -> dst:port/proto now
        (a denial also names the deciding policy's rules that match nothing)."""
        from ..policy.verdict import Verdict, explain
        v = explain(self.elements, src, dst, port, proto)
        if v.allowed:
            return v
        owner = src if "'s egress policy" in v.reason else dst
        names = self._unmatched_at(owner)
        if names:
            v = Verdict(False, v.reason + " (its rule naming " + ", ".join(names)
                        + " matches no running container)")
        return v

    def _unmatched_at(self, ip: str) -> list[str]:
        """The service/container names of the policy of ``ip``'s container that
        match no running container now (for diagnose: why a name allows nothing)."""
        policies, members, _ = self._inventory()
        owner = next((m for m in members if m.ip == ip), None)
        if owner is None or owner.container_id not in policies:
            return []
        out = []
        for d in ("ingress", "egress"):
            for r in policies[owner.container_id].rules(d) or ():
                if r.kind in ("service", "container") and not pcompile.peer_members(
                        r.kind, r.peer, owner, members):
                    out.append(f"{r.kind} {r.peer!r}")
        return out

    def _enforceable(self, c: Container, eps) -> None:
        """A policy is never accepted and ignored: every endpoint of a policied
        container must be on a network boxnet's firewall filters (a bridge
        network with the nftables firewall; not macvlan/ipvlan/overlay, not
        --iptables=false)."""
        if from_labels(c.config.labels) is None:
            return
        for ep in eps:
            if not self.ctl.firewall.filters(ep.network_id):
                nw = self.ctl.networks.get(ep.network_id)
                raise InvalidParameter(
                    f"invalid policy: container {c.name.lstrip('/')} has a com.boxnet.policy "
                    f"but network {nw.name if nw else ep.network_id} is not filtered by "
                    f"boxnet's firewall (policies hold on bridge networks only)")

    async def sandbox_ready(self, c: Container) -> None:
        """Before the process starts: its addresses are gated (or allowed) already."""
        self._enforceable(c, self.ctl.eps_by_container.get(c.id, {}).values())
        await self.refresh(cid=c.id)

    async def endpoint_joined(self, c: Container, nw: Network, ep: Endpoint) -> None:
        """A connect: the new address is in the sets."""
        self._enforceable(c, [ep])
        await self.refresh(cid=c.id)

    async def endpoint_left(self, c: Container, nw: Network, ep: Endpoint) -> None:
        """A disconnect or stop: the address leaves the sets (still indexed now)."""
        await self.refresh(skip_ep=ep.id, cid=c.id)

    async def sandbox_removed(self, c: Container) -> None:
        """Stopped: nothing of it stays allowed."""
        await self.refresh(skip_cid=c.id, cid=c.id)

    async def sandbox_restored(self, c: Container) -> None:
        """Daemon start: re-adopted containers are enforced again (all of them:
        a full recompute)."""
        await self.refresh()

    async def container_removed(self, c: Container) -> None:
        """Deleted."""
        self._parsed.pop(c.id, None)
        await self.refresh(skip_cid=c.id, cid=c.id)

    async def container_renamed(self, c: Container, old_name: str) -> None:
        """Container rules resolve by name (its own group elements move)."""
        await self.refresh(cid=c.id)

    async def network_created(self, nw: Network) -> None:
        """Network rules resolve to subnets."""
        await self.refresh()

    async def network_removed(self, nw: Network) -> None:
        """Network rules resolve to subnets."""
        await self.refresh()
