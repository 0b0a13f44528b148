"""NftFirewall: keeps boxnet's nftables tables equal to its state.

Every change is one atomic transaction through libnftables.  Adding or
removing a network, an endpoint or a port touches only its own set/map
elements; if the kernel's tables drifted (an element already gone, say),
the manager re-renders both tables from state.  The ``admin`` chain is the
administrator's: its rules are read back from the kernel before every full
render and put into the new table, so they survive reloads and repairs.

Fail closed at daemon start: between `begin_restore` and `end_restore` the
manager only collects the state the controller restores (networks,
endpoints, ports), and the tables the previous daemon left in the kernel
stay in force; `end_restore` replaces them with one atomic render of all of
it.  There is no moment with empty sets while containers run.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re

from ...errors import KernelError
from ...kernel import sysctl
from ..api import Firewall, FirewallEndpoint, FirewallNetwork, PublishedPort
from . import policyset, ruleset
from .hostcheck import foreign_drop_warnings

log = logging.getLogger(__name__)
_RULE_LINE = re.compile(r"^\t\t(?!type |policy )\S")


class NftFirewall(Firewall):
    """Firewall backed by the `inet boxnet` and `bridge boxnet` tables."""

    def __init__(self, nft=None, netns: str | None = None, allow_direct_routing: bool = False,
                 flow_log: bool = True):
        """Use ``nft`` (a kernel.nft.Nft-like object), or a context in ``netns``
        (a pinned path; default: this thread's netns, where sysctls are set too).
        ``allow_direct_routing``: the daemon's --allow-direct-routing;
        ``flow_log``: the flows' drop log rules (False: boxnetd --flows=off)."""
        if nft is None:
            from ...kernel.nft import Nft
            nft = Nft(netns=netns)
        self._nft = nft
        self._netns = netns
        self._networks: dict[str, FirewallNetwork] = {}
        self._endpoints: dict[str, FirewallEndpoint] = {}
        self._ports: dict[tuple, PublishedPort] = {}
        self._direct: collections.Counter = collections.Counter()
        self._admin = ""          # last admin chain seen in the kernel
        self._warned: list[str] = []
        self._allow_direct = allow_direct_routing
        self._flow_log = flow_log
        self._held = False        # between begin_restore and end_restore
        self._policy = policyset.empty_state()   # groups, chains, verdict maps (policyset.py)

    # ---- plumbing -------------------------------------------------------
    def _run(self, lines: list[str]) -> None:
        if not lines or self._held:
            return
        text = ruleset.script(lines)
        try:
            self._nft.run(text)
        except KernelError as exc:
            log.error("nft transaction failed, previous ruleset kept: %s", exc.message)
            raise

    def _read_admin(self) -> str:
        """The admin chain as nft text, from the kernel if the table is there."""
        try:
            out = self._nft.run(f"list chain {ruleset.T} {ruleset.ADMIN_CHAIN}")
        except KernelError:
            return self._admin
        if any(_RULE_LINE.match(line) for line in out.splitlines()):
            self._admin = out
        else:
            self._admin = ""
        return self._admin

    async def begin_restore(self) -> None:
        """Collect state only; the kernel's tables stay as they are."""
        self._held = True

    async def end_restore(self) -> None:
        """Replace the tables with everything collected, atomically."""
        self._held = False
        await self.reload()

    async def reload(self) -> None:
        """Replace both tables with a render of the state (admin rules kept)."""
        if self._held:
            return
        admin = self._read_admin()
        text = ruleset.full_ruleset(list(self._networks.values()), list(self._endpoints.values()),
                                    list(self._ports.values()), admin, self._allow_direct,
                                    self._policy, self._flow_log)
        try:
            self._nft.run(text)
        except KernelError as exc:
            log.error("nft full render failed, previous ruleset kept: %s", exc.message)
            raise
        self._report_foreign()

    async def _resync_after(self, exc: KernelError) -> None:
        log.warning("nft incremental change failed (%s); re-rendering the tables", exc.message)
        await self.reload()

    def _report_foreign(self) -> None:
        found = self.warnings()
        for w in found:
            if w not in self._warned:
                log.warning("%s", w)
        self._warned = found

    # ---- networks -------------------------------------------------------
    async def sync(self, networks: list[FirewallNetwork]) -> None:
        """Replace the tables with exactly these networks (and their endpoints/ports)."""
        self._networks = {n.network_id: n for n in networks}
        keep = {e.endpoint_id: e for e in self._endpoints.values()
                if e.network_id in self._networks}
        self._endpoints = keep
        for n in networks:
            self._localnet(n.bridge)
        await self.reload()

    def _localnet(self, bridge: str) -> None:
        # Host connections to 127.0.0.1:<published port> are DNATed in the output
        # hook and leave through the bridge with source 127.0.0.1, which the
        # kernel refuses to route unless route_localnet is on for that device;
        # postrouting then masquerades them to the bridge's address.
        try:
            sysctl.write_sysctl(f"net/ipv4/conf/{bridge}/route_localnet", "1", self._netns)
        except KernelError as exc:
            log.warning("route_localnet on %s: %s (127.0.0.1 ports won't work)", bridge,
                        exc.message)

    async def add_network(self, net: FirewallNetwork) -> None:
        """Add one network's elements; falls back to a full render on drift."""
        old = self._networks.get(net.network_id)
        self._networks[net.network_id] = net
        self._localnet(net.bridge)
        ad = self._allow_direct
        lines = ruleset.network_elements(old, "delete", ad) if old and old != net else []
        if old == net:
            lines = []
        try:
            self._run(lines + ruleset.network_elements(net, allow_direct=ad))
        except KernelError as exc:
            try:
                await self._resync_after(exc)
            except KernelError:
                if old is None:
                    self._networks.pop(net.network_id, None)
                else:
                    self._networks[net.network_id] = old
                raise

    async def remove_network(self, network_id: str) -> None:
        """Remove one network's elements; falls back to a full render on drift."""
        net = self._networks.pop(network_id, None)
        if net is None:
            return
        try:
            self._run(ruleset.network_elements(net, "delete", self._allow_direct))
        except KernelError as exc:
            await self._resync_after(exc)

    async def teardown(self) -> None:
        """Remove boxnet's tables."""
        self._networks.clear()
        self._endpoints.clear()
        self._ports.clear()
        self._direct.clear()
        self._nft.run(ruleset.teardown_script())

    # ---- endpoints ------------------------------------------------------
    def _icc(self, network_id: str) -> bool:
        net = self._networks.get(network_id)
        return net.icc if net else True

    async def add_endpoint(self, ep: FirewallEndpoint) -> None:
        """Anti-spoofing (and ICC) elements of one bridge port."""
        old = self._endpoints.get(ep.endpoint_id)
        if old == ep:
            return
        self._endpoints[ep.endpoint_id] = ep
        lines = ruleset.endpoint_elements(old, "delete", self._icc(old.network_id)) if old else []
        try:
            self._run(lines + ruleset.endpoint_elements(ep, icc=self._icc(ep.network_id)))
        except KernelError as exc:
            await self._resync_after(exc)

    async def remove_endpoint(self, endpoint_id: str) -> None:
        """Drop one bridge port's elements (no error if unknown)."""
        ep = self._endpoints.pop(endpoint_id, None)
        if ep is None:
            return
        try:
            self._run(ruleset.endpoint_elements(ep, "delete", self._icc(ep.network_id)))
        except KernelError as exc:
            await self._resync_after(exc)

    # ---- ports ----------------------------------------------------------
    async def add_ports(self, ports: list[PublishedPort]) -> None:
        """Publish ports in one transaction; a failure leaves none of them."""
        new = [p for p in ports if self._ports.get(p.key()) != p]
        if not new:
            return
        replaced = [self._ports[p.key()] for p in new if p.key() in self._ports]
        lines = self._port_lines(replaced, "delete") + self._port_lines(new, "add")
        try:
            self._run(lines)
        except KernelError:
            self._port_lines(new, "delete")
            self._port_lines(replaced, "add")
            raise

    async def remove_ports(self, ports: list[PublishedPort]) -> None:
        """Unpublish ports (unknown ones are ignored)."""
        gone = [p for p in ports if self._ports.get(p.key()) == p]
        if not gone:
            return
        try:
            self._run(self._port_lines(gone, "delete"))
        except KernelError as exc:
            await self._resync_after(exc)

    def _port_lines(self, ports: list[PublishedPort], verb: str) -> list[str]:
        """Commands for these ports; updates the state and the direct-access refcounts."""
        direct = []
        for p in ports:
            k = ruleset.direct_key(p)
            if verb == "add":
                self._ports[p.key()] = p
                self._direct[k] += 1
                if self._direct[k] == 1:
                    direct.append(k)
            else:
                self._ports.pop(p.key(), None)
                if self._direct.get(k):
                    self._direct[k] -= 1
                    if not self._direct[k]:
                        del self._direct[k]
                        direct.append(k)
        return ruleset.port_elements(ports, verb) + ruleset.direct_elements(direct, verb)

    def published(self) -> list[PublishedPort]:
        """Every port currently programmed."""
        return list(self._ports.values())

    # ---- policy ---------------------------------------------------------
    async def update_policy(self, change: dict) -> None:
        """Apply one policy change (policy/plan.py ``Planner.update``: group
        members, chains, verdict map elements) in one transaction; the state is
        kept for a full render."""
        change = {k: v for k, v in change.items() if v}
        if not change:
            return
        if change.get("vmap_add"):
            self._bridge_nf()
        policyset.apply(self._policy, change)
        try:
            self._run(policyset.policy_script(change))
        except KernelError as exc:
            await self._resync_after(exc)

    def filters(self, network_id: str) -> bool:
        """True for the bridge networks these tables know."""
        return network_id in self._networks

    def _gates_drifted(self, listed: dict[str, str]) -> str:
        """A policy verdict map with fewer or more addresses than boxnet put there
        (a flushed map would let every connection in: fail open, so it is repaired).
        ``listed``: map name -> the body of its listing (from the table's listing
        `_drifted` makes anyway: another listing would fetch every set again)."""
        want = {name: 0 for name in policyset.VMAPS}
        for d, fam, _ in self._policy["vmap"]:
            want[f"pv{d}{fam}"] += 1
        for name, n in want.items():
            if name not in listed:
                return f"map {name} is missing"
            got = listed[name].count(": jump ")
            if got != n:
                return f"map {name} holds {got} addresses instead of {n}"
        return ""

    def _bridge_nf(self) -> None:
        # Switched traffic between two ports of one bridge is judged by the policy
        # chain only through br_netfilter (the bridge family has no conntrack here);
        # dockerd turns these on for its bridges too.
        for fam in ("iptables", "ip6tables"):
            try:
                sysctl.write_sysctl(f"net/bridge/bridge-nf-call-{fam}", "1", self._netns)
            except KernelError as exc:
                log.warning("bridge-nf-call-%s: %s (policies not enforced inside one "
                            "bridge)", fam, exc.message)

    # ---- robustness -----------------------------------------------------
    def _drifted(self) -> str:
        """Why the kernel's tables differ from what boxnet installed ("" if they don't).

        One listing per table (libnftables fetches a table's sets with their
        elements for any listing, so per-chain listings would cost that many
        times more); it also refreshes the remembered admin chain.
        """
        want = ruleset.expected_rule_counts(self._flow_log)
        have: dict[tuple[str, str], int] = {}
        admin: list[str] = []
        gates: dict[str, str] = {}   # policy verdict map -> its listing's body
        for table in (ruleset.T, ruleset.B):
            try:
                out = self._nft.run(f"list table {table}")
            except KernelError:
                return f"table {table} is missing"
            chain = None
            gate = None
            for line in out.splitlines():
                if line.startswith("\tchain "):
                    chain = line.split()[1]
                    have.setdefault((table, chain), 0)
                elif table == ruleset.T and line.startswith("\tmap pv"):
                    gate = line.split()[1]
                    gates[gate] = ""
                elif line.startswith("\t}"):
                    chain = gate = None
                elif gate:
                    gates[gate] += line
                elif chain and _RULE_LINE.match(line):
                    have[(table, chain)] += 1
                    if (table, chain) == (ruleset.T, ruleset.ADMIN_CHAIN):
                        admin.append(line)
        for key, n in want.items():
            if have.get(key, 0) != n:
                return f"chain {key[0]} {key[1]} has {have.get(key, 0)} rules instead of {n}"
        why = self._gates_drifted(gates)
        if why:
            return why
        if admin:
            self._admin = (f"table {ruleset.T} {{\n\tchain {ruleset.ADMIN_CHAIN} {{\n"
                           + "\n".join(admin) + "\n\t}\n}")
        else:
            self._admin = ""
        return ""

    async def check(self) -> bool:
        """Re-render the tables if someone changed them; True if it had to."""
        why = await asyncio.to_thread(self._drifted)  # ~10 ms at 1000s of elements
        if not why:
            # a drop policy someone added since the last look is logged once, not only
            # shown by `boxnet info` (chains only: about a millisecond)
            await asyncio.to_thread(self._report_foreign)
            return False
        log.warning("boxnet's nftables tables were changed behind its back (%s); restoring", why)
        await self.reload()
        return True

    def warnings(self) -> list[str]:
        """Foreign forward chains that would drop boxnet's traffic."""
        try:
            listing = self._nft.run_json("list chains")
        except KernelError as exc:
            return [f"cannot list nftables chains: {exc.message}"]
        bridges = sorted(n.bridge for n in self._networks.values())
        return foreign_drop_warnings(listing, bridges)
