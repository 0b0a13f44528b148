"""`docker diff`: a container's changes from its overlay's upper directory.

Kinds as Docker numbers them: 0 modified, 1 added, 2 deleted.  An entry of the
upper dir that also exists in the image is modified (its parent directories
are copied up, so they show as modified too, as in Docker); one that does not
is added, and so is everything under an added directory; an overlay whiteout
(a 0/0 character device) is a deletion; an opaque directory (xattr
trusted.overlay.opaque=y) hides the image's entries under it, each a deletion.
The mount points the runtime creates for a container's own files (/etc/hosts,
/etc/hostname, /etc/resolv.conf) and the kernel trees (/dev, /proc, /sys) are
left out: Docker keeps them in its init layer, never in the diff.
"""

from __future__ import annotations

import os
import stat

MODIFIED, ADDED, DELETED = 0, 1, 2
HIDDEN = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/.dockerenv"}
KERNEL_TREES = ("/dev", "/proc", "/sys")


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _hidden(cpath: str, extra: set[str]) -> bool:
    return cpath in HIDDEN or cpath in extra or any(
        cpath == t or cpath.startswith(t + "/") for t in KERNEL_TREES)


def changes(upper: str, lower: str, hidden: set[str] = set()) -> list[dict]:
    """Docker's ContainerChangeResponseItem list ({"Path", "Kind"}) sorted by
    path.  `hidden`: more container paths to leave out (mount points)."""
    out: list[dict] = []

    def walk(udir: str, cdir: str, added: bool) -> None:
        try:
            with os.scandir(udir) as it:
                entries = sorted((e.name, e.stat(follow_symlinks=False)) for e in it)
        except FileNotFoundError:
            return
        for name, st in entries:
            cpath = (cdir.rstrip("/") + "/" + name)
            upath = os.path.join(udir, name)
            if _hidden(cpath, hidden):
                continue
            lpath = os.path.join(lower, cpath.lstrip("/"))
            if _is_whiteout(st):
                out.append({"Path": cpath, "Kind": DELETED})
                continue
            in_lower = not added and os.path.lexists(lpath)
            out.append({"Path": cpath, "Kind": MODIFIED if in_lower else ADDED})
            if stat.S_ISDIR(st.st_mode):
                lower_is_dir = in_lower and os.path.isdir(lpath) and not os.path.islink(lpath)
                if lower_is_dir and _opaque(upath):
                    present = set(os.listdir(upath))
                    for gone in sorted(set(os.listdir(lpath)) - present):
                        out.append({"Path": cpath + "/" + gone, "Kind": DELETED})
                walk(upath, cpath, added or not lower_is_dir)

    walk(upper, "/", False)
    out.sort(key=lambda c: c["Path"])
    return out
