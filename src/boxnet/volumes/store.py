"""VolumeStore: the local driver's volumes on disk, as Docker lays them out.

<data-root>/volumes/<name>/_data is the volume (or where its tmpfs or bind is
mounted), <data-root>/volumes/<name>/volume.json its metadata (written to a
temporary file and renamed: a crash leaves the old or the new one).  Volumes
are read back from there at start, so they survive daemon restarts.  A
directory without metadata is not a volume: removed at start when it holds
no data (a create cut short), else left alone with a warning (a removal cut
short, or files that are not boxnet's).

Which containers refer to a volume is the core's business (core/mounts.py);
this store mounts a volume's driver options when asked (`activate`), counts
the containers holding that mount (`hold`, from the start of a start to the
exit) and unmounts it when the last one lets go (`let_go`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

import msgspec

from ..errors import Conflict, InvalidParameter, KernelError, NotFound
from ..kernel import volmount
from ..kernel.fstree import remove_tree
from .model import Volume
from .names import validate_name
from .options import plan

log = logging.getLogger(__name__)
META = "volume.json"


class VolumeStore:
    """Volumes of the local driver under `root` (<data-root>/volumes)."""

    def __init__(self, root: str):
        """Read every volume under `root` (made if missing)."""
        self.root = root
        os.makedirs(root, mode=0o701, exist_ok=True)
        self.volumes: dict[str, Volume] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # who holds a volume's driver mount (a container from the start of its
        # start to its exit): the mount goes when the last one lets go
        self._holders: dict[str, set[str]] = {}
        for name in sorted(os.listdir(root)):
            d = os.path.join(root, name)
            try:
                with open(os.path.join(d, META), "rb") as f:
                    v = msgspec.json.decode(f.read(), type=Volume)
            except FileNotFoundError:
                data = os.path.join(d, "_data")
                if os.path.isdir(d) and (not os.path.exists(data) or
                                         volmount.is_empty_dir(data)):
                    log.warning("volume directory %s has no metadata (a create cut short): "
                                "removed", d)
                    self._remove_dir(d)
                else:   # not ours to delete: data without metadata is left for a human
                    log.warning("volume directory %s has data but no metadata: left alone, "
                                "not a volume", d)
                continue
            except (OSError, msgspec.DecodeError) as exc:
                log.error("volume %s: unreadable metadata, skipped: %s", name, exc)
                continue
            v.mountpoint = os.path.join(d, "_data")
            self.volumes[v.name] = v

    def lock(self, name: str) -> asyncio.Lock:
        """The lock serialising the mount and copy-up of volume `name`: two
        containers started together on one new volume (compose starts services
        in parallel) must not both copy the image's files into it."""
        lk = self._locks.get(name)
        if lk is None:
            lk = self._locks[name] = asyncio.Lock()
        return lk

    def get(self, name: str) -> Volume:
        """The volume `name` (NotFound otherwise)."""
        v = self.volumes.get(name)
        if v is None:
            raise NotFound(f"get {name}: no such volume")
        return v

    def create(self, name: str, driver: str, options: dict[str, str],
               labels: dict[str, str], created_at: str) -> tuple[Volume, bool]:
        """(the volume, True) after making it; (the existing one, False) when
        `name` exists already with the same driver, as dockerd answers."""
        validate_name(name)
        driver = driver or "local"
        if driver != "local":
            raise InvalidParameter(f'create {name}: volume driver "{driver}" is not '
                                   f'supported: boxnet has the local driver only')
        old = self.volumes.get(name)
        if old is not None:
            return old, False
        p = plan(options)
        if p.kind == "bind" and not os.path.isdir(p.source):
            raise InvalidParameter(f"create {name}: device {p.source} is not an existing "
                                   f"directory")
        d = os.path.join(self.root, name)
        v = Volume(name=name, driver=driver, created_at=created_at, labels=dict(labels),
                   options=dict(options), mountpoint=os.path.join(d, "_data"))
        try:
            os.makedirs(v.mountpoint, mode=0o755)
            tmp = os.path.join(d, META + ".tmp")
            with open(tmp, "wb") as f:
                f.write(msgspec.json.encode(v))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(d, META))
        except FileExistsError:
            raise Conflict(f"create {name}: a volume directory {d} exists already") from None
        except OSError as exc:
            self._remove_dir(d)
            raise KernelError(f"create {name}: {exc}") from None
        self.volumes[name] = v
        return v, True

    def activate(self, name: str) -> str:
        """Mount the volume's driver options (tmpfs, bind) if not mounted yet;
        its mountpoint."""
        v = self.get(name)
        p = plan(v.options)
        try:
            if p.kind == "tmpfs":
                volmount.mount_tmpfs(v.mountpoint, p.flags, p.data)
            elif p.kind == "bind":
                volmount.mount_bind(p.source, v.mountpoint, p.flags)
        except OSError as exc:
            raise KernelError(f"error while mounting volume '{v.mountpoint}': {exc}") from None
        return v.mountpoint

    def hold(self, name: str, holder: str) -> None:
        """`holder` (a container id) uses the volume's mount from now on."""
        self._holders.setdefault(name, set()).add(holder)

    def held(self, name: str) -> bool:
        """Whether any container holds the volume's mount."""
        return bool(self._holders.get(name))

    def let_go(self, name: str, holder: str) -> None:
        """`holder` no longer uses the volume: unmount it when nobody else does."""
        held = self._holders.get(name)
        if held is not None:
            held.discard(holder)
        if not held:
            self._holders.pop(name, None)
            self.deactivate(name)

    def deactivate(self, name: str) -> None:
        """Unmount what activate mounted (a tmpfs volume's data goes with it,
        as with Docker's).  No error when nothing is mounted."""
        v = self.volumes.get(name)
        if v is None or plan(v.options).kind == "dir":
            return
        try:
            volmount.unmount(v.mountpoint)
        except OSError as exc:
            raise KernelError(f"unmount of volume {name}: {exc}") from None

    async def remove(self, name: str) -> None:
        """Unmount and delete the volume and its data (the caller checked it is
        unused).  The metadata goes first: a crash half-way leaves a directory
        without it, which the next start removes."""
        self.get(name)
        self.deactivate(name)
        d = os.path.join(self.root, name)
        try:
            os.unlink(os.path.join(d, META))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise KernelError(f"remove {name}: {exc}") from None
        self.volumes.pop(name, None)
        self._locks.pop(name, None)
        self._holders.pop(name, None)
        if volmount.is_mounted_below(os.path.join(d, "_data")):
            raise KernelError(f"remove {name}: {d} still has a mount below it; left in place")
        try:
            await remove_tree(d)   # a child process: a big volume does not stall the daemon
        except OSError as exc:
            raise KernelError(f"remove {name}: {exc}") from None

    def size(self, name: str) -> int:
        """Bytes of data in the volume (-1 when it cannot be read)."""
        v = self.volumes.get(name)
        return volmount.tree_size(v.mountpoint) if v else -1

    def copy_up(self, name: str, rootfs: str, path: str) -> bool:
        """Copy the image's directory `path` (of the tree at `rootfs`, symlinks
        resolved inside it) into the volume when the volume is empty (Docker's
        rule); True when something was copied."""
        v = self.get(name)
        if not volmount.is_empty_dir(v.mountpoint):
            return False
        source = volmount.resolve_in_root(rootfs, path)
        if source is None:
            return False
        try:
            return volmount.copy_up(source, v.mountpoint)
        except OSError as exc:
            raise KernelError(f"copy of the image's {path} into volume {name}: {exc}") \
                from None

    @staticmethod
    def _remove_dir(d: str) -> None:
        """Remove a volume's directory; never into a mount left below it."""
        data = os.path.join(d, "_data")
        try:
            volmount.unmount(data)
        except OSError as exc:
            log.warning("unmount of %s: %s", data, exc)
        if os.path.isdir(data) and volmount.is_mounted_below(data):
            log.error("%s still has a mount: not removed", data)
            return
        shutil.rmtree(d, ignore_errors=False, onerror=_log_rm)


def _log_rm(fn, path, exc_info) -> None:
    log.warning("removal of %s: %s", path, exc_info[1])
