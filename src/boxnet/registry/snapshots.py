"""Layer snapshots: each layer unpacked once, shared between images by hard links.

A boxnet image is one flattened root filesystem (the container runtime mounts
it as the lower dir of the container's overlay).  So that images sharing
their first layers do not unpack those layers again, a pull keeps, after each
layer it applied, a snapshot of the rootfs so far under
`<data-root>/snapshots/<chain id>` (the OCI ChainID of the layers up to it).
A later pull starts from its longest stored chain prefix: the snapshot is
cloned (directories made, every other entry hard-linked: no file data is
copied) and only the remaining layers are applied.

Hard links are safe here because the layer extractor (runtime/tarimport.py)
unlinks any non-directory it replaces before writing, so a write never
reaches a shared inode, and image roots are never written afterwards (a
container writes to its overlay's upper dir).  Snapshots no stored image's
chain uses are removed by `gc`.  A snapshot is written to a temp name and
renamed, so a crash leaves no half snapshot (temp names go at open).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil

log = logging.getLogger(__name__)


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainIDs: chain[0] = diff[0]; chain[k] = sha256(chain[k-1] + " " + diff[k])."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else
                   "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def clone_tree(src: str, dst: str) -> None:
    """Make `dst` (absent) a copy of `src` whose non-directories are hard links."""
    os.mkdir(dst)
    dirs: list[tuple[str, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        out = dst if rel == "." else os.path.join(dst, rel)
        for name in dirnames:
            s = os.path.join(dirpath, name)
            st = os.lstat(s)
            if os.path.islink(s):        # a symlink to a dir: linked, not walked
                os.link(s, os.path.join(out, name), follow_symlinks=False)
                continue
            os.mkdir(os.path.join(out, name))
            dirs.append((os.path.join(out, name), st))
        for name in filenames:
            os.link(os.path.join(dirpath, name), os.path.join(out, name), follow_symlinks=False)
    dirs.append((dst, os.lstat(src)))
    for path, st in reversed(dirs):      # deepest first: a parent's mtime is set last
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, st.st_mode & 0o7777)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


class Snapshots:
    """Rootfs snapshots by chain id under <data-root>/snapshots."""

    def __init__(self, data_root: str):
        """Open (create) the directory; temp names left by a crash are removed."""
        self.dir = os.path.join(data_root, "snapshots")
        os.makedirs(self.dir, exist_ok=True)
        for name in os.listdir(self.dir):
            if name.startswith(".tmp-"):
                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)

    def path(self, chain: str) -> str:
        """The directory of a snapshot (it may not exist)."""
        return os.path.join(self.dir, chain.split(":", 1)[1])

    def longest(self, chains: list[str]) -> int:
        """How many leading layers a stored snapshot covers (0: none)."""
        for k in range(len(chains), 0, -1):
            if os.path.isdir(self.path(chains[k - 1])):
                return k
        return 0

    def restore(self, chain: str, rootfs: str) -> None:
        """Clone snapshot `chain` as the (absent) directory `rootfs`.  Blocking."""
        clone_tree(self.path(chain), rootfs)

    def save(self, chain: str, rootfs: str) -> None:
        """Keep the current `rootfs` as snapshot `chain` (no-op if stored).  Blocking."""
        final = self.path(chain)
        if os.path.isdir(final):
            return
        tmp = os.path.join(self.dir, f".tmp-{secrets.token_hex(6)}")
        try:
            clone_tree(rootfs, tmp)
            os.rename(tmp, final)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if not os.path.isdir(final):
                log.warning("snapshot %s not kept: %s", chain[7:19], e)

    def gc(self, used: set[str]) -> list[str]:
        """Remove the snapshots whose chain id is not in `used`."""
        gone = []
        for name in os.listdir(self.dir):
            if name.startswith(".tmp-") or f"sha256:{name}" in used:
                continue
            shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
            gone.append(f"sha256:{name}")
        return gone
