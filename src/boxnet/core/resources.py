"""Resources of running containers: `docker update`, pause/unpause (the
freezer), OOM kills, stats and top.  A mixin of the Controller.

A paused container keeps status "running" (Docker's State.Running stays
true) with `paused` set: everything that asks "is it running" still gets
yes, and inspect/ps show "paused".  A signal to a paused container is
delivered once it is thawed, so kill/stop/rm thaw it after signalling, as
dockerd does (moby daemon/kill.go).
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import Conflict, InvalidParameter, KernelError
from ..kernel import cgroups, linkstats, ps
from ..model import Container, RestartPolicy
from ..runtime import resources
from . import netmode, top
from .clock import now_rfc3339
from .statsview import Sample

log = logging.getLogger(__name__)


class ResourceOps:
    """Mixin of the Controller: limits, freezer, stats, top."""

    def _container_event(self, c: Container, action: str) -> None:
        attrs = dict(c.config.labels)
        attrs.update(image=c.config.image, name=c.name)
        self.event_feed.publish("container", action, c.id, attrs, c.config.image)

    async def update_container(self, ref: str, update: dict,
                               restart: RestartPolicy | None) -> list[str]:
        """`docker update`: new resource limits (HostConfig names; 0/null mean
        unchanged) checked as at create, applied at once to a running container
        (runc update) and kept in its HostConfig; a new restart policy.  Returns
        Docker's warnings.  Nothing changes when a check fails."""
        c = self.container(ref)
        async with self.clock(c.id):
            hc = c.config.raw_host_config
            merged = resources.merge_update(hc, update)
            warnings = resources.validate(merged, cgroups.host())
            if restart is not None and restart.name not in ("", "no") and c.config.auto_remove:
                raise InvalidParameter("Restart policy cannot be updated because AutoRemove is "
                                       "enabled for the container")
            changed = any(merged.get(f) != hc.get(f) for f in resources.UPDATABLE)
            if changed and c.status == "running":
                try:
                    await self.runtime.update(c.id, resources.oci_resources(merged, for_update=True))
                except KernelError as e:
                    raise InvalidParameter(f"Cannot update container {c.id}: {e.message}") \
                        from None
            new_hc = dict(hc)
            for f in resources.UPDATABLE:
                if f in merged:
                    new_hc[f] = merged[f]
                elif f in hc:   # replaced (NanoCpus by a period/quota, or back)
                    new_hc[f] = 0
            c.config.raw_host_config = hc = new_hc
            if restart is not None:
                c.config.restart_policy = restart
                hc["RestartPolicy"] = {"Name": restart.name,
                                       "MaximumRetryCount": restart.maximum_retry_count}
            self.save_container(c)
        self._container_event(c, "update")
        return warnings

    async def pause_container(self, ref: str) -> None:
        """`docker pause`: freeze every process of the container."""
        c = self.container(ref)
        async with self.clock(c.id):
            if c.status != "running":
                raise Conflict(f"Container {c.id} is not running")
            if c.paused:
                raise Conflict(f"Container {c.id} is already paused")
            await self.runtime.pause(c.id)
            c.paused = True
            self.health.paused(c)   # no probes while frozen (core/healthmon.py)
            self.save_container(c)
        self._container_event(c, "pause")

    async def unpause_container(self, ref: str) -> None:
        """`docker unpause`: thaw a paused container."""
        c = self.container(ref)
        async with self.clock(c.id):
            if not c.paused or c.status != "running":
                raise Conflict(f"Container {c.id} is not paused")
            await self.runtime.resume(c.id)
            c.paused = False
            self.health.unpaused(c)
            self.save_container(c)
        self._container_event(c, "unpause")

    async def thaw_after_signal(self, c: Container) -> None:
        """After a signal was sent to a paused container: thaw it, so the signal
        is delivered (a frozen process does not even die of SIGKILL)."""
        if not c.paused:
            return
        try:
            await self.runtime.resume(c.id)
        except KernelError as e:
            log.warning("cannot unpause %s after a signal: %s", c.name, e.message)
            return
        c.paused = False
        self.health.unpaused(c)
        self.save_container(c)
        self._container_event(c, "unpause")

    def note_exit_resources(self, c: Container) -> None:
        """At the init's exit, before runc deletes the cgroup: whether the memory
        cgroup's OOM killer struck (State.OOMKilled), and no longer paused."""
        c.paused = False
        try:
            c.oom_killed = cgroups.oom_kills(self.runtime.cgroup_paths(c.id)) > 0
        except OSError as e:
            log.warning("OOM state of %s unknown: %s", c.name, e)
        if c.oom_killed:
            self._container_event(c, "oom")

    async def stats_sample(self, ref: str) -> Sample | None:
        """One reading of a running container (None when it is not running or
        is gone: a stream ends): its cgroups' usage and its interfaces' counters."""
        c = self.containers.get(ref)
        if c is None or c.status != "running":
            return None
        paths = self.runtime.cgroup_paths(c.id)
        usage = await asyncio.to_thread(cgroups.usage, paths) if paths else {}
        owner = netmode.sandbox_owner(self, c)
        nets = None
        if owner.sandbox_key:
            try:
                nets = await linkstats.link_counters(self.nl, owner.sandbox_key)
            except (KernelError, OSError) as e:
                log.debug("no interface counters for %s: %s", c.name, e)
            nets = nets or None   # --network none: no "networks", as Docker
        return Sample(read=now_rfc3339(), usage=usage,
                      system_cpu=cgroups.system_cpu_usage(),
                      online_cpus=cgroups.online_cpus(), networks=nets)

    def host_cgroups(self) -> cgroups.HostCgroups:
        """What the host's cgroups can limit, its cgroup version, CPUs, memory nodes."""
        return cgroups.host()

    def host_memory(self) -> int:
        """The host's memory (stats' limit of an unlimited container)."""
        return cgroups.host_memory()

    async def container_top(self, ref: str, ps_args: str) -> dict:
        """`docker top`: ps on the host, filtered to the container's processes."""
        c = self.container(ref)
        if c.status != "running":
            raise Conflict(f"Container {c.id} is not running")
        args = top.split_args(ps_args)
        pids = cgroups.procs(self.runtime.cgroup_paths(c.id))
        if not pids and c.pid:
            pids = [c.pid]
        return top.parse(await ps.run_ps(args, pids), set(pids))
