"""Volumes and container mounts: the volume API's operations, the mounts a
container gets at create (named and anonymous volumes made then, binds,
--mount, --volumes-from, the image's VOLUMEs), the OCI mounts of a start
(volumes activated, copy-up of the image's content into an empty volume),
their release at exit and `rm -v`.

Docker's rules kept here: a volume is "in use" while any container (running
or not) refers to it, and then cannot be removed, `force` or not (moby
#31450); `force` only makes a missing volume no error.  Prune removes only
unused anonymous volumes unless `all=true`.  `rm -v` (and `--rm`) removes the
container's own anonymous volumes, never named ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath

from ..errors import BoxnetError, Conflict, InvalidParameter, NotFound, Unavailable
from ..model import Container, MountPoint
from ..volumes import filters as vfilters
from ..volumes import spec as vspec
from ..volumes.model import Volume
from ..volumes.names import ANONYMOUS_LABEL, anonymous_name
from .clock import now_rfc3339
from .teardown import Teardown
from .undo import Undo

log = logging.getLogger(__name__)


def _depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


class VolumeOps:
    """Mixin of the Controller: volumes and container mounts."""

    # ---- the volume API -------------------------------------------------
    def _vols(self):
        if self.volumes is None:
            raise Unavailable("this daemon has no volume store")
        return self.volumes

    def _volume_event(self, action: str, name: str, **attrs: str) -> None:
        """Docker's volume events (create, destroy, mount, unmount) on the feed."""
        if self.event_feed is not None:
            self.event_feed.publish("volume", action, name, {"driver": "local", **attrs})

    def _new_volume(self, name: str, driver: str, options: dict, labels: dict) -> tuple:
        v, new = self._vols().create(name, driver, options, labels, now_rfc3339())
        if new:
            self._volume_event("create", name)
        return v, new

    async def _destroy_volume(self, name: str) -> None:
        await self._vols().remove(name)
        self._volume_event("destroy", name)

    def volume_users(self, name: str) -> list[Container]:
        """Containers (in any state) whose mounts refer to volume `name`."""
        return [c for c in self.containers.values()
                if any(m.type == "volume" and m.name == name for m in c.mounts)]

    def create_volume(self, name: str, driver: str = "local", options: dict | None = None,
                      labels: dict | None = None) -> Volume:
        """POST /volumes/create: a new volume, or the existing one of that name."""
        labels = dict(labels or {})
        if not name:   # as dockerd: a random name, and the volume counts as anonymous
            name = anonymous_name()
            labels.setdefault(ANONYMOUS_LABEL, "")
        v, _ = self._new_volume(name, driver, dict(options or {}), labels)
        return v

    def volume(self, name: str) -> Volume:
        """GET /volumes/{name}."""
        return self._vols().get(name)

    def list_volumes(self, filters: dict[str, list[str]]) -> list[Volume]:
        """GET /volumes: the volumes passing `filters` (volumes/filters.py), by name."""
        used = self._used_names()
        return [v for n, v in sorted(self._vols().volumes.items())
                if vfilters.matches(v, n in used, filters)]

    def _used_names(self) -> set[str]:
        return {m.name for c in self.containers.values() for m in c.mounts
                if m.type == "volume"}

    async def remove_volume(self, name: str, force: bool = False) -> None:
        """DELETE /volumes/{name}: Conflict while a container uses it; a missing
        volume is NotFound unless `force`."""
        vols = self._vols()
        if name not in vols.volumes:
            if force:
                return
            vols.get(name)
        users = self.volume_users(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - "
                           f"[{', '.join(c.id for c in users)}]")
        await self._destroy_volume(name)

    async def prune_volumes(self, filters: dict[str, list[str]]) -> tuple[list[str], int]:
        """POST /volumes/prune: (names removed, bytes reclaimed)."""
        vols = self._vols()
        used = self._used_names()
        gone, space = [], 0
        steps = Teardown("volume prune")
        for n, v in sorted(vols.volumes.items()):
            if not vfilters.prunable(v, n in used, filters):
                continue
            size = await asyncio.to_thread(vols.size, n)
            await steps.run(f"volume {n}", self._destroy_volume, n)
            if n not in vols.volumes:
                gone.append(n)
                space += max(size, 0)
        if steps.errors:
            log.warning("%s", steps.message())
        return gone, space

    async def volumes_usage(self) -> list[dict]:
        """Docker's Volume objects with UsageData (Size in bytes, RefCount: the
        containers using it), for GET /system/df."""
        vols = self._vols()
        out = []
        for n, v in sorted(vols.volumes.items()):
            size = await asyncio.to_thread(vols.size, n)
            out.append(v.json(usage=(size, len(self.volume_users(n)))))
        return out

    # ---- create: which mounts a container gets --------------------------
    async def resolve_mounts(self, raw_config: dict, raw_host_config: dict,
                             image_volumes: dict, undo: Undo) -> list[MountPoint]:
        """The mount points of a new container: volumes-from, then binds and
        mounts, then anonymous volumes (Config.Volumes, the image's VOLUMEs) where
        nothing is mounted; volumes it names that do not exist are made now
        (removed by `undo` if the create fails)."""
        reqs, anon, vfrom = vspec.requested(raw_config, raw_host_config)
        vspec.tmpfs_entries(raw_host_config)
        by_dest: dict[str, MountPoint] = {}
        for entry in vfrom:
            ref, mode = vspec.parse_volumes_from(entry)
            try:
                src = self.container(ref)
            except NotFound:
                # a 400, not dockerd's 404: on a 404 the docker CLI goes to pull the image
                raise InvalidParameter(f"VolumesFrom: no such container: {ref}") from None
            for m in src.mounts:
                by_dest[m.destination] = MountPoint(
                    type=m.type, destination=m.destination, source=m.source, name=m.name,
                    driver=m.driver, mode=m.mode, rw=m.rw and mode != "ro",
                    propagation=m.propagation, copy=False, tmpfs_options=list(m.tmpfs_options))
        made: list[vspec.MountRequest] = []
        for r in reqs:
            if r.point.type == "bind" and not r.point.create_source and \
                    not os.path.exists(r.point.source):
                raise InvalidParameter(f'invalid mount config for type "bind": bind source '
                                       f'path does not exist: {r.point.source}')
            by_dest[r.point.destination] = r.point
            if r.point.type == "volume":
                made.append(r)
        for dst in [*anon, *(posixpath.normpath(p) for p in image_volumes or {})]:
            if dst not in by_dest:
                r = vspec.MountRequest(point=MountPoint(type="volume", destination=dst,
                                                        driver="local", anonymous=True))
                by_dest[dst] = r.point
                made.append(r)
        for r in made:
            p = r.point
            labels = dict(r.labels)
            if not p.name:
                p.name = anonymous_name()
                labels[ANONYMOUS_LABEL] = ""
            v, new = self._new_volume(p.name, r.driver, r.driver_opts, labels)
            if new:
                undo.push(f"removal of volume {p.name}", self._destroy_volume, p.name)
            p.source, p.driver = v.mountpoint, v.driver
        return sorted(by_dest.values(), key=lambda m: (_depth(m.destination), m.destination))

    # ---- start, exit, remove -------------------------------------------
    async def mount_specs(self, c: Container, image_rootfs: str) -> list[dict]:
        """The OCI mounts of a start of `c`: its volumes mounted (tmpfs, bind
        driver options) and, when empty and not nocopy, filled with the image's
        content at the destination; missing `-v` bind sources made."""
        out = []
        for m in c.mounts:
            if m.type == "tmpfs":
                out.append({"destination": m.destination, "type": "tmpfs", "source": "tmpfs",
                            "options": vspec.tmpfs_options(m.tmpfs_options)})
                continue
            if m.type == "volume":
                vols = self._vols()
                async with vols.lock(m.name):   # one copy-up per volume at a time
                    vols.hold(m.name, c.id)   # before the mount: an exit now keeps it
                    source = vols.activate(m.name)
                    if m.copy:
                        await asyncio.to_thread(vols.copy_up, m.name, image_rootfs,
                                                m.destination)
                prop = "rprivate"
                self._volume_event("mount", m.name, container=c.id, destination=m.destination,
                                   propagation="", **{"read/write": str(m.rw).lower()})
            else:
                source, prop = m.source, m.propagation or "rprivate"
                if not os.path.exists(source):
                    if not m.create_source:
                        raise InvalidParameter(f'invalid mount config for type "bind": bind '
                                               f'source path does not exist: {source}')
                    os.makedirs(source, exist_ok=True)   # -v: as Docker does
            out.append({"destination": m.destination, "type": "bind", "source": source,
                        "options": ["rbind", prop, "rw" if m.rw else "ro"]})
        for dst, opts in vspec.tmpfs_entries(c.config.raw_host_config):
            out.append({"destination": dst, "type": "tmpfs", "source": "tmpfs",
                        "options": vspec.tmpfs_options(opts)})
        return sorted(out, key=lambda m: _depth(m["destination"]))

    def release_mounts(self, c: Container) -> None:
        """After `c` stopped (or failed to start): it lets go of its volumes'
        driver mounts, unmounted when no other container holds them (one that
        is starting holds them already: core/mounts.py mount_specs)."""
        if self.volumes is None:
            return
        for m in c.mounts:
            if m.type != "volume":
                continue
            self._volume_event("unmount", m.name, container=c.id)
            try:
                self.volumes.let_go(m.name, c.id)
            except BoxnetError as exc:
                log.warning("container %s: %s", c.name, exc.message)

    def release_idle_volumes(self) -> None:
        """At start, after the containers were re-adopted: the running ones hold
        their volumes again; the tmpfs and bind volumes nobody holds are
        unmounted (their last container exited while no daemon watched it)."""
        if self.volumes is None:
            return
        for o in self.containers.values():
            if o.status == "running":
                for m in o.mounts:
                    if m.type == "volume" and m.name in self.volumes.volumes:
                        self.volumes.hold(m.name, o.id)
        for name in list(self.volumes.volumes):
            if not self.volumes.held(name):
                try:
                    self.volumes.deactivate(name)
                except BoxnetError as exc:
                    log.warning("volume %s: %s", name, exc.message)

    async def remove_anonymous_volumes(self, c: Container, steps: Teardown) -> None:
        """`rm -v`: remove the container's own anonymous volumes that no other
        container uses (the removed container is already unindexed)."""
        if self.volumes is None:
            return
        for m in c.mounts:
            if m.type != "volume" or not m.anonymous or m.name not in self.volumes.volumes:
                continue
            if self.volume_users(m.name):
                continue   # still used (volumes-from): kept, as dockerd does
            await steps.run(f"its volume {m.name}", self._destroy_volume, m.name)


def mounts_json(c: Container) -> list[dict]:
    """Inspect's `Mounts`, as Docker shows them."""
    out = []
    for m in c.mounts:
        d = {"Type": m.type}
        if m.type == "volume":
            d["Name"] = m.name
        d.update({"Source": m.source, "Destination": m.destination})
        if m.type == "volume":
            d["Driver"] = m.driver or "local"
        d.update({"Mode": m.mode, "RW": m.rw,
                  "Propagation": m.propagation if m.type == "bind" else ""})
        out.append(d)
    return out

