"""A container's mounts as asked at create, decided without I/O.

The sources Docker reads, in its order of precedence (moby
daemon/volumes.go registerMountPoints): HostConfig.VolumesFrom (resolved by
the core, which knows the other container), then HostConfig.Binds (`-v
src:dst[:opts]`, src a host path or a volume name) and HostConfig.Mounts
(`--mount`), which replace a volumes-from mount at the same destination and
may not repeat one another, then Config.Volumes (`-v /path`) and the image's
VOLUMEs as anonymous volumes where nothing is mounted yet.  HostConfig.Tmpfs
(`--tmpfs`) is separate, as in Docker (not shown in inspect's Mounts).

Docker's rule on a missing bind source: `-v` makes it, `--mount` refuses it
(the core checks, as it is I/O).
"""

from __future__ import annotations

import posixpath

import msgspec

from ..errors import InvalidParameter
from ..model import MountPoint
from .names import validate_name

PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
_LABELS = ("z", "Z")
# macOS file-sharing hints: dockerd on Linux accepts them and they mean nothing here
_CONSISTENCY = ("consistent", "cached", "delegated")


class MountRequest(msgspec.Struct, kw_only=True):
    """One mount to resolve: the mount point, and for a volume made for it the
    driver options and labels of `--mount type=volume,volume-opt=..`."""

    point: MountPoint
    driver: str = "local"
    driver_opts: dict[str, str] = {}
    labels: dict[str, str] = {}


def _dest(dst, what: str) -> str:
    if not isinstance(dst, str) or not dst:
        raise InvalidParameter(f"invalid mount config: {what} needs a Target (a container path)")
    if not posixpath.isabs(dst):
        raise InvalidParameter(f"invalid mount path: '{dst}' mount path must be absolute")
    dst = posixpath.normpath(dst)
    if dst == "/":
        raise InvalidParameter(f"invalid specification: destination can't be '/' in {what}")
    return dst


def parse_bind(entry: str) -> MountRequest:
    """One HostConfig.Binds entry: "src:dst[:opts]" (src an absolute host path or a
    volume name) or "dst" (an anonymous volume)."""
    if not isinstance(entry, str) or not entry:
        raise InvalidParameter(f"invalid volume specification: '{entry}'")
    parts = entry.split(":")
    if len(parts) == 1:
        return MountRequest(point=MountPoint(type="volume", destination=_dest(parts[0], entry),
                                             anonymous=True))
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidParameter(f"invalid volume specification: '{entry}'")
    src, dst = parts[0], _dest(parts[1], entry)
    opts = [o for o in parts[2].split(",") if o] if len(parts) == 3 else []
    is_bind = posixpath.isabs(src)
    rw, copy, prop = True, True, ""
    for o in opts:
        if o in ("ro", "rw"):
            rw = o == "rw"
        elif o in _LABELS or o in _CONSISTENCY:
            continue   # SELinux relabelling, macOS consistency: nothing to do here
        elif o == "nocopy" and not is_bind:
            copy = False
        elif o in PROPAGATIONS and is_bind:
            prop = o
        else:
            raise InvalidParameter(f"invalid mode: {o} in volume specification '{entry}'")
    if sum(o in ("ro", "rw") for o in opts) > 1 or sum(o in PROPAGATIONS for o in opts) > 1:
        raise InvalidParameter(f"invalid mode: {parts[2]} in volume specification '{entry}'")
    mode = parts[2] if len(parts) == 3 else ""
    if is_bind:
        return MountRequest(point=MountPoint(
            type="bind", source=posixpath.normpath(src), destination=dst, mode=mode, rw=rw,
            propagation=prop or "rprivate", create_source=True))
    return MountRequest(point=MountPoint(type="volume", name=validate_name(src),
                                         destination=dst, driver="local", mode=mode or "z",
                                         rw=rw, copy=copy))


def _no(m: dict, key: str, typ: str) -> None:
    if m.get(key):
        raise InvalidParameter(f'invalid mount config for type "{typ}": {key} must not be '
                               f'specified')


def _refuse_true(opts: dict, keys: tuple[str, ...], typ: str) -> None:
    for k in keys:
        if opts.get(k):
            raise InvalidParameter(f'invalid mount config for type "{typ}": {k} is not '
                                   f'supported by boxnet')


def parse_mount(m) -> MountRequest:
    """One HostConfig.Mounts entry (`--mount`), Docker's field rules."""
    if not isinstance(m, dict):
        raise InvalidParameter(f"invalid mount {m!r}: an object is needed")
    typ = m.get("Type")
    src = m.get("Source") or ""
    ro = bool(m.get("ReadOnly"))
    if typ not in ("bind", "volume", "tmpfs"):
        raise InvalidParameter(f'invalid mount config: mount type "{typ}" is not supported '
                               f'by boxnet (bind, volume, tmpfs)')
    dst = _dest(m.get("Target"), f"mount of type {typ}")
    if not isinstance(src, str):
        raise InvalidParameter(f"invalid mount config: Source must be a string (got {src!r})")
    if typ == "bind":
        _no(m, "VolumeOptions", typ)
        _no(m, "TmpfsOptions", typ)
        if not src:
            raise InvalidParameter('invalid mount config for type "bind": field Source must '
                                   'not be empty')
        if not posixpath.isabs(src):
            raise InvalidParameter(f'invalid mount config for type "bind": invalid mount '
                                   f'path: \'{src}\' mount path must be absolute')
        bo = m.get("BindOptions") or {}
        _refuse_true(bo, ("NonRecursive", "ReadOnlyNonRecursive", "ReadOnlyForceRecursive"),
                     typ)
        prop = bo.get("Propagation") or "rprivate"
        if prop not in PROPAGATIONS:
            raise InvalidParameter(f'invalid mount config for type "bind": invalid '
                                   f'propagation mode: {prop}')
        return MountRequest(point=MountPoint(
            type="bind", source=posixpath.normpath(src), destination=dst, rw=not ro,
            propagation=prop, create_source=bool(bo.get("CreateMountpoint"))))
    if typ == "volume":
        _no(m, "BindOptions", typ)
        _no(m, "TmpfsOptions", typ)
        vo = m.get("VolumeOptions") or {}
        _refuse_true(vo, ("Subpath",), typ)
        dc = vo.get("DriverConfig") or {}
        driver = dc.get("Name") or "local"
        if driver != "local":
            raise InvalidParameter(f'invalid mount config for type "volume": volume driver '
                                   f'"{driver}" is not supported: boxnet has the local '
                                   f'driver only')
        point = MountPoint(type="volume", name=validate_name(src) if src else "",
                           destination=dst, driver="local", rw=not ro,
                           copy=not vo.get("NoCopy"), anonymous=not src)
        return MountRequest(point=point, driver_opts=dict(dc.get("Options") or {}),
                            labels=dict(vo.get("Labels") or {}))
    if src:
        raise InvalidParameter('invalid mount config for type "tmpfs": Source must not be '
                               'specified')
    _no(m, "BindOptions", typ)
    _no(m, "VolumeOptions", typ)
    to = m.get("TmpfsOptions") or {}
    _refuse_true(to, ("Options",), typ)
    opts = []
    size = to.get("SizeBytes")
    if size:
        if not isinstance(size, int) or size < 0:
            raise InvalidParameter(f'invalid mount config for type "tmpfs": SizeBytes must '
                                   f'be a positive number of bytes (got {size!r})')
        opts.append(f"size={size}")
    mode = to.get("Mode")
    if mode:
        if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise InvalidParameter(f'invalid mount config for type "tmpfs": Mode must be '
                                   f'a file mode 0 to 07777 (got {mode!r})')
        opts.append(f"mode={mode:o}")
    if ro:
        opts.append("ro")
    return MountRequest(point=MountPoint(type="tmpfs", destination=dst, rw=not ro,
                                         tmpfs_options=opts))


def parse_volumes_from(entry) -> tuple[str, str]:
    """One HostConfig.VolumesFrom entry "container[:ro|rw]": (container, mode or "")."""
    if not isinstance(entry, str) or not entry:
        raise InvalidParameter(f"invalid VolumesFrom entry {entry!r}")
    name, _, mode = entry.partition(":")
    if not name or mode not in ("", "ro", "rw", "z", "Z"):
        raise InvalidParameter(f"invalid mode for volumes-from: {entry}")
    return name, mode if mode in ("ro", "rw") else ""


def requested(raw_config: dict, raw_host_config: dict) -> tuple[list[MountRequest],
                                                               list[str], list[str]]:
    """(binds and mounts, Config.Volumes destinations, VolumesFrom entries) of a
    create request, checked; duplicates among binds and mounts are a 400."""
    hc = raw_host_config or {}
    binds, mounts = hc.get("Binds") or [], hc.get("Mounts") or []
    if not isinstance(binds, list) or not isinstance(mounts, list):
        raise InvalidParameter("HostConfig.Binds and HostConfig.Mounts must be lists")
    reqs = [parse_bind(b) for b in binds] + [parse_mount(m) for m in mounts]
    seen: set[str] = set()
    for r in reqs:
        if r.point.destination in seen:
            raise InvalidParameter(f"Duplicate mount point: {r.point.destination}")
        seen.add(r.point.destination)
    vols = raw_config.get("Volumes") or {}
    if not isinstance(vols, dict):
        raise InvalidParameter("Config.Volumes must be an object of container paths")
    anon = [_dest(p, f"volume {p}") for p in vols]
    vf = hc.get("VolumesFrom") or []
    if not isinstance(vf, list):
        raise InvalidParameter("HostConfig.VolumesFrom must be a list")
    for e in vf:
        parse_volumes_from(e)
    return reqs, anon, list(vf)


def tmpfs_entries(raw_host_config: dict) -> list[tuple[str, list[str]]]:
    """HostConfig.Tmpfs ({path: "opts"}) as (path, options), checked."""
    tm = (raw_host_config or {}).get("Tmpfs") or {}
    if not isinstance(tm, dict) or not all(isinstance(v, str) for v in tm.values()):
        raise InvalidParameter('HostConfig.Tmpfs must map container paths to option '
                               'strings (e.g. {"/run": "size=64m"})')
    return [(_dest(p, f"tmpfs {p}"), [o for o in v.split(",") if o]) for p, v in tm.items()]


_PAIRS = {"ro": "rw", "rw": "ro", "exec": "noexec", "noexec": "exec", "suid": "nosuid",
          "nosuid": "suid", "dev": "nodev", "nodev": "dev", "atime": "noatime",
          "noatime": "atime", "diratime": "nodiratime", "nodiratime": "diratime",
          "relatime": "norelatime", "norelatime": "relatime", "strictatime": "nostrictatime",
          "nostrictatime": "strictatime"}


def tmpfs_options(user: list[str]) -> list[str]:
    """Docker's tmpfs mount options: noexec, nosuid, nodev, rprivate, then the
    user's, a later flag replacing its opposite and a later key=value its key
    (moby pkg/mount MergeTmpfsOptions)."""
    out: list[str] = []
    for o in ["noexec", "nosuid", "nodev", "rprivate", *user]:
        key = o.split("=", 1)[0]
        if o in PROPAGATIONS:
            out = [x for x in out if x not in PROPAGATIONS]
        elif o in _PAIRS:
            out = [x for x in out if x not in (o, _PAIRS[o])]
        elif "=" in o:
            out = [x for x in out if x.split("=", 1)[0] != key]
        else:
            out = [x for x in out if x != o]
        out.append(o)
    return out
