"""Start-up: load the store, create the predefined networks, and reconcile
store and kernel after a restart or a crash.

What the store says is the truth for networks and endpoints of running
containers: missing kernel objects are re-created with the same addresses.
Kernel objects this daemon created but no longer wants (marked veths,
bridges and retired links, netns pins) are removed (orphans.py).  Containers still running are re-adopted,
their recorded PID trusted only with its start time, and a netns pin that
vanished is pinned again from the living process (recovery.py).

The firewall fails closed meanwhile: the tables the previous daemon left stay
in force while the state is restored (`begin_restore`), and are replaced in
one transaction by a render of every network, endpoint and port at once
(`end_restore`), before any container is (re)started.  A start that fails
half-way leaves the old tables in place rather than a partial render.
"""

from __future__ import annotations

import ipaddress
import logging

from ..errors import BoxnetError
from ..ipam.api import Pool, PoolRequest
from ..model import Container, Endpoint, Network
from . import recovery
from .clock import now_rfc3339
from .orphans import remove_orphans
from .external import external

log = logging.getLogger(__name__)


class ReconcileOps:
    """Mixin of the Controller: start-up and reconciliation."""

    async def start(self) -> None:
        """Load state, ensure predefined networks, reconcile with the kernel."""
        self.start_time = now_rfc3339()
        for nw in self.store.load("networks", Network):
            self._index_network(nw)
            for p in nw.pools:
                self.ipam.restore_pool(Pool(pool_id=p.subnet, subnet=p.subnet, gateway=p.gateway,
                                            ip_range=p.ip_range, aux_addresses=p.aux_addresses,
                                            user_subnet=p.user_subnet))
        for c in self.store.load("containers", Container):
            self._index_container(c)
        for ep in self.store.load("endpoints", Endpoint):
            self._index_endpoint(ep)
            nw = self.networks.get(ep.network_id)
            for cidr in (ep.ipv4, ep.ipv6):
                if nw and cidr:
                    self._reserve(nw, cidr)
        await self.firewall.begin_restore()
        await self._ensure_predefined()
        for nw in list(self.networks.values()):
            try:
                await self.drivers.get(nw.driver).create_network(nw, restoring=True)
            except BoxnetError as exc:
                log.error("network %s could not be restored: %s", nw.name, exc.message)
        to_restart = await self._reconcile_containers()
        await self.firewall.end_restore()
        await self._apply_restart_policies(to_restart)
        await self._remove_orphans()
        await self.nl.settle()   # what reconcile retired is gone before the API answers

    def _reserve(self, nw: Network, cidr: str) -> None:
        ip = ipaddress.ip_interface(cidr).ip
        for p in nw.pools:
            if ip in ipaddress.ip_network(p.subnet):
                self.ipam.reserve_address(p.subnet, str(ip))

    async def _ensure_predefined(self) -> None:
        if "none" not in self.net_by_name:
            await self.create_network("none", "null", predefined=True)
        if "host" not in self.net_by_name:
            await self.create_network("host", "host", predefined=True)
        if "bridge" not in self.net_by_name and self.config.bridge != "none":
            cfg = []
            if self.config.bip:
                iface = ipaddress.ip_interface(self.config.bip)
                cfg = [PoolRequest(subnet=str(iface.network), gateway=str(iface.ip))]
            if self.config.fixed_cidr_v6:   # --ipv6 without it: a /64 of the host's ULA
                cfg.append(PoolRequest(subnet=self.config.fixed_cidr_v6, v6=True))
            await self.create_network(
                "bridge", "bridge", predefined=True, ipam_config=cfg,
                enable_ipv6=self.config.ipv6,
                options={"com.docker.network.bridge.default_bridge": "true",
                         "com.docker.network.bridge.enable_icc": "true",
                         "com.docker.network.bridge.enable_ip_masquerade": "true",
                         "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                         "com.docker.network.bridge.name": self.config.bridge,
                         "com.docker.network.driver.mtu": "1500"})

    async def _reconcile_containers(self) -> list[Container]:
        """Re-adopt live containers, clean up dead ones; return those whose
        restart policy asks for a start (started after the firewall render)."""
        to_restart = []
        for c in list(self.containers.values()):
            alive = False
            # A recorded pid is trusted only with its start time and boot id:
            # a recycled one is never adopted, signalled or re-pinned (recovery.py).
            if c.status == "running" and c.pid and recovery.may_adopt(c):
                alive = await self.runtime.adopt(c.id, c.pid, self.exit_handler(c.id))
            if alive:
                recovery.adopted(c)
                # A pin lost with a private mount namespace: pinned again from
                # the living process, if it is still the recorded netns.
                if await recovery.recover_netns(self, c):
                    self.save_container(c)
                elif not recovery.process_alive(c):
                    # It exited by itself between its adoption and the re-pin (a
                    # short-lived one): the adopted watch reports its real code
                    # and tears its sandbox down, as for any exit.
                    log.info("container %s exited during the restart", c.name)
                    continue
                else:
                    log.warning("container %s lost its netns; stopping it", c.name)
                    await self.runtime.kill(c.id, 9)
                    alive = False
            else:
                await recovery.recover_for_teardown(self, c)
            if alive:
                await self._repair_endpoints(c)
                await self.events.sandbox_restored(c)
                continue
            was_running = c.status == "running"
            if was_running:
                # Exited while no daemon watched: boxnet-supervisor reaped it
                # and recorded its real code and time (255: no record).
                rec = await self.runtime.last_exit(c.id, c.pid)
                c.status, c.exit_code, c.pid = "exited", rec.exit_code if rec else 255, 0
                c.finished_at = rec.finished_at if rec and rec.finished_at else now_rfc3339()
                self.note_exit_resources(c)   # OOMKilled: runc keeps the cgroup until delete
                recovery.forget_process(c)
            # a start cut short by the crash (never recorded running) left a waiting
            # (created) init: it holds the netns, and so the veths the teardown lets
            # die with it.  Not for one recorded running: its process was not
            # adopted because its identity is not trusted (recovery.py).
            if not was_running:
                try:
                    await self.runtime.discard(c.id)
                except BoxnetError as exc:
                    log.warning("stale process of %s not killed: %s", c.name, exc.message)
            await self._teardown_sandbox(c)
            self.save_container(c)
            if was_running and c.config.auto_remove:   # `run --rm`: gone, as if we had watched
                try:
                    await self.remove_container(c.id, force=True)
                except BoxnetError as exc:
                    log.warning("removal of %s failed: %s", c.name, exc.message)
                continue
            pol = c.config.restart_policy.name
            if pol == "on-failure":   # counted on, as if the daemon had watched the exit
                if was_running and self.should_restart(c):
                    c.restart_count += 1
                    self.save_container(c)
                    to_restart.append(c)
            elif c.status == "exited" and (pol == "always" or
                                           (pol == "unless-stopped" and not c.manually_stopped)):
                to_restart.append(c)
        for ep in list(self.endpoints.values()):
            c = self.containers.get(ep.container_id)
            if not ep.container_id and external(ep):
                continue   # Docker's (core/external.py): Docker removes it, or re-joins it
            if c is None or c.status != "running":
                await self.leave_network(c or _Gone(), self.networks.get(ep.network_id), ep)
        return to_restart

    async def _apply_restart_policies(self, containers: list[Container]) -> None:
        for c in containers:
            try:
                await self.start_container(c.id)
            except BoxnetError as exc:
                log.warning("restart of %s failed: %s", c.name, exc.message)

    async def _repair_endpoints(self, c: Container) -> None:
        """Re-plumb endpoints of a live container whose kernel objects are gone;
        join networks it is configured for but has no endpoint on."""
        have = self.eps_by_container.get(c.id, {})
        for nid, st in list(c.networks.items()):
            nw = self.networks.get(nid)
            if nw is None:
                continue
            ep = have.get(nid)
            drv = self.drivers.get(nw.driver)
            if ep is None:
                await self.join_network(c, nw, st, c.sandbox_key)
            elif drv.needs_sandbox and c.sandbox_key and \
                    not await drv.endpoint_present(nw, ep, c.sandbox_key):
                # what is left of it goes first: a pair half-retired by a crash
                # keeps its host end's name (the new pair's) until deleted
                if ep.host_ifname:
                    await self.nl.delete_link(ep.host_ifname)
                await self.nl.delete_link(ep.ifname, netns=c.sandbox_key)
                await drv.join(nw, ep, c.sandbox_key)
                await self._endpoint_options(ep, c.sandbox_key)   # link-local IPs, sysctls
                self.store.put("endpoints", ep.id, ep)
        for nid, ep in list(have.items()):
            # the overlay's gateway-bridge endpoint is not configured: its owner
            # (drivers/overlay/gwbridge.py) keeps or removes it
            implicit = nid in self.networks and \
                self.networks[nid].labels.get("com.boxnet.network.gwbridge") == "true"
            if nid not in c.networks and not implicit:
                await self.leave_network(c, self.networks.get(nid), ep)
        await self.after_endpoints_changed(c)

    async def _remove_orphans(self) -> None:
        await remove_orphans(self)   # only links carrying this daemon's mark (orphans.py)


class _Gone:
    """Stand-in for a container that no longer exists (no sandbox to clean)."""

    sandbox_key = ""
