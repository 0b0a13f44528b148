"""A service's `volumes:`, `tmpfs:`, `secrets:` and `configs:` as HostConfig Binds, Mounts
and Tmpfs, the way Docker Compose v2 sends them.

- Short syntax `SRC:DST[:MODE]` / `DST`: SRC starting with `.`, `/` or `~` is a host path
  (relative ones from the project directory) sent as a Bind, so the engine creates a
  missing host directory as `-v` does (compose's create_host_path); otherwise SRC is the
  key of a top-level volume, sent as a Mount of type volume under its engine name; a lone
  DST is an anonymous volume (Mount type volume, no Source). MODE is `ro`/`rw`, `nocopy`
  and a bind propagation. As with Docker on Linux, the macOS consistency flags
  (`cached`, `delegated`, `consistent`, long syntax `consistency`) change nothing and are
  dropped, and so is SELinux relabeling (`z`/`Z`, `bind.selinux`) on a host without
  SELinux (dockerd relabels nothing there); with SELinux enabled it is refused, since
  boxnet cannot relabel.
- Long syntax: type volume (source, read_only, volume.nocopy, volume.subpath,
  volume.labels), bind (bind.propagation, bind.create_host_path: a Bind string as
  compose does, else a Mount whose source must exist), tmpfs (tmpfs.size, tmpfs.mode).
  cluster, npipe and image mounts and bind.recursive other than `enabled` are refused
  with the key named.
- `tmpfs:` entries go to HostConfig.Tmpfs (`/path[:options]`).
- `secrets:` / `configs:` from a top-level `file:` are read-only bind Mounts at
  `/run/secrets/NAME` (secrets) or the target, default `/NAME` (configs). uid/gid cannot
  be honoured on a bind of the user's file and are refused; `mode` is accepted only when
  the file already has it. `external`, `environment` and `content` sources are refused.

Every refusal is a ComposeError naming the file, line and key; `check(project)` runs the
translation for every service at load time, so nothing is created for a bad file.
"""

from __future__ import annotations

import os
import re
import stat

from .errors import ComposeError
from .model import Project, Service

PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
CONSISTENCY = ("cached", "delegated", "consistent")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _err(project: Project, path: tuple, msg: str, hint: str = "") -> ComposeError:
    file, line = project.locate(path)
    return ComposeError(msg, file, path, line, hint)


def size_bytes(value) -> int:
    """A compose size (`64m`, `1gb`, `512k`, or a number of bytes) in bytes."""
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    m = _SIZE.match(str(value).strip())
    if not m:
        raise ValueError(f"invalid size {value!r}: expected a number with an optional unit "
                         "b, k, m, g")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def octal_mode(value) -> int:
    """A file mode: a string is octal (`"1777"`), a number is taken as it is (compose-go)."""
    if isinstance(value, str):
        return int(value, 8)
    return int(value)


def _host_path(project: Project, src: str) -> str:
    return os.path.normpath(os.path.join(project.working_dir, os.path.expanduser(src)))


def _is_path(src: str) -> bool:
    return src.startswith((".", "/", "~"))


def _truthy(v) -> bool:
    return v is True or str(v).lower() in ("true", "1", "yes")


def _no_relabel(project: Project, path: tuple) -> None:
    """SELinux relabeling: nothing to do without SELinux (dockerd does nothing either);
    refused where SELinux is enabled, since boxnet cannot relabel."""
    if os.path.exists("/sys/fs/selinux/enforce"):
        raise _err(project, path, "SELinux relabeling (z/Z) is not supported by boxnet",
                   "label the host path yourself and drop the option")


def _volume_name(project: Project, key: str, path: tuple) -> str:
    vol = project.volumes.get(key)
    if vol is None:
        raise _err(project, path, f"service refers to undefined volume {key!r}",
                   "declare it under the top-level `volumes:` key")
    return vol.name


def _short(project: Project, svc: Service, i: int, spec: str, out: dict) -> None:
    path = ("services", svc.name, "volumes", i)
    parts = spec.split(":")
    if len(parts) == 1:
        out["mounts"].append({"Type": "volume", "Target": parts[0]})
        return
    if len(parts) > 3:
        raise _err(project, path, f"invalid volume specification {spec!r}",
                   "use SOURCE:TARGET[:MODE]")
    src, dst = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    if any(m in ("z", "Z") for m in modes):
        _no_relabel(project, path)
    modes = [m for m in modes if m not in (*CONSISTENCY, "z", "Z")]
    bad = [m for m in modes if m not in ("ro", "rw", "nocopy", *PROPAGATIONS)]
    if bad:
        raise _err(project, path, f"volume mode {bad[0]!r} is not supported",
                   "use ro, rw, nocopy or a propagation")
    if not dst.startswith("/"):
        raise _err(project, path, f"invalid volume target {dst!r}: must be an absolute path")
    if _is_path(src):
        if "nocopy" in modes:
            raise _err(project, path, "nocopy applies to volumes, not to a bind mount")
        keep = [m for m in modes if m != "rw"]
        out["binds"].append(f"{_host_path(project, src)}:{dst}"
                            + (":" + ",".join(keep) if keep else ""))
        return
    if [m for m in modes if m in PROPAGATIONS]:
        raise _err(project, path, "a propagation mode applies to bind mounts, not volumes")
    m = {"Type": "volume", "Source": _volume_name(project, src, path), "Target": dst}
    if "ro" in modes:
        m["ReadOnly"] = True
    if "nocopy" in modes:
        m["VolumeOptions"] = {"NoCopy": True}
    out["mounts"].append(m)


def _long(project: Project, svc: Service, i: int, v: dict, out: dict) -> None:
    path = ("services", svc.name, "volumes", i)
    kind, src, dst = v.get("type"), str(v.get("source") or ""), str(v.get("target") or "")
    if kind not in ("volume", "bind", "tmpfs"):
        raise _err(project, path + ("type",), f"mount type {kind!r} is not supported",
                   "use volume, bind or tmpfs")
    if not dst.startswith("/"):
        raise _err(project, path + ("target",), f"invalid mount target {dst!r}: must be an "
                   "absolute path")
    for other in ("volume", "bind", "tmpfs"):
        if other != kind and v.get(other):
            raise _err(project, path + (other,), f"`{other}` options on a {kind} mount")
    m: dict = {"Type": kind, "Target": dst}
    if _truthy(v.get("read_only", False)):
        m["ReadOnly"] = True
    if kind == "volume":
        if src:
            m["Source"] = _volume_name(project, src, path + ("source",))
        opts = v.get("volume") or {}
        vo: dict = {}
        if _truthy(opts.get("nocopy", False)):
            vo["NoCopy"] = True
        if opts.get("subpath"):
            vo["Subpath"] = str(opts["subpath"])
        if opts.get("labels"):
            lbl = opts["labels"]
            vo["Labels"] = dict(x.partition("=")[::2] for x in lbl) if isinstance(lbl, list) \
                else {str(k): str(val) for k, val in lbl.items()}
        if vo:
            m["VolumeOptions"] = vo
    elif kind == "bind":
        if not src:
            raise _err(project, path + ("source",), "a bind mount needs a source path")
        opts = v.get("bind") or {}
        if opts.get("selinux"):
            _no_relabel(project, path + ("bind", "selinux"))
        if opts.get("recursive") not in (None, "enabled"):
            raise _err(project, path + ("bind", "recursive"), f"bind.recursive "
                       f"{opts['recursive']!r} is not supported", "only `enabled` (the default)")
        prop = opts.get("propagation")
        if prop and prop not in PROPAGATIONS:
            raise _err(project, path + ("bind", "propagation"), f"unknown propagation {prop!r}",
                       ", ".join(PROPAGATIONS))
        m["Source"] = _host_path(project, src)
        if _truthy(opts.get("create_host_path", False)):
            flags = [f for f in ("ro" if m.get("ReadOnly") else "", prop or "") if f]
            out["binds"].append(f"{m['Source']}:{dst}" + (":" + ",".join(flags) if flags
                                                          else ""))
            return
        if prop:
            m["BindOptions"] = {"Propagation": prop}
    else:
        if src:
            raise _err(project, path + ("source",), "a tmpfs mount has no source")
        opts = v.get("tmpfs") or {}
        to: dict = {}
        try:
            if opts.get("size") not in (None, ""):
                to["SizeBytes"] = size_bytes(opts["size"])
            if opts.get("mode") not in (None, ""):
                to["Mode"] = octal_mode(opts["mode"])
        except ValueError as e:
            raise _err(project, path + ("tmpfs",), str(e)) from None
        if to:
            m["TmpfsOptions"] = to
    out["mounts"].append(m)


def _files(project: Project, svc: Service, kind: str, out: dict) -> None:
    """secrets: / configs: of a service as read-only bind Mounts of their files."""
    top = project.data.get(kind) or {}
    for i, entry in enumerate(svc.get(kind) or []):
        path = ("services", svc.name, kind, i)
        e = {"source": entry} if isinstance(entry, str) else dict(entry)
        name = str(e.get("source") or "")
        if name not in top:
            raise _err(project, path, f"service {svc.name!r} refers to undefined "
                       f"{kind[:-1]} {name!r}", f"declare it under the top-level `{kind}:`")
        decl = top[name] or {}
        dpath = (kind, name)
        for src in ("external", "environment", "content"):
            if decl.get(src):
                raise _err(project, dpath + (src,), f"{kind[:-1]} {name!r}: a source of type "
                           f"`{src}` is not supported by boxnet compose",
                           "put the value in a file and use `file:`")
        if not decl.get("file"):
            raise _err(project, dpath, f"{kind[:-1]} {name!r} has no `file:`")
        for k in ("driver", "driver_opts", "template_driver", "labels"):
            if decl.get(k):
                raise _err(project, dpath + (k,), f"{kind[:-1]} {k} is a swarm feature "
                           "(a file is bind-mounted: nothing carries them), not supported")
        src = _host_path(project, str(decl["file"]))
        try:
            st = os.stat(src)
        except OSError as ex:
            raise _err(project, dpath + ("file",), f"{kind[:-1]} {name!r}: cannot read "
                       f"{src}: {ex.strerror}") from None
        for k in ("uid", "gid"):
            if e.get(k) not in (None, ""):
                raise _err(project, path + (k,), f"{k} cannot be set on a file "
                           f"{kind[:-1]} (it is the host file, bind-mounted)",
                           "chown the file on the host instead")
        if e.get("mode") not in (None, ""):
            try:
                want = octal_mode(e["mode"])
            except ValueError:
                raise _err(project, path + ("mode",), f"invalid mode {e['mode']!r}",
                           "an octal mode, e.g. \"0440\"") from None
            if want != stat.S_IMODE(st.st_mode):
                raise _err(project, path + ("mode",), f"mode {oct(want)} differs from the "
                           f"file's ({oct(stat.S_IMODE(st.st_mode))}): a file "
                           f"{kind[:-1]} is the host file, bind-mounted read-only",
                           f"chmod {oct(want)[2:]} {src}")
        target = str(e.get("target") or name)
        if kind == "secrets" and not target.startswith("/"):
            target = "/run/secrets/" + target
        elif not target.startswith("/"):
            target = "/" + target
        out["mounts"].append({"Type": "bind", "Source": src, "Target": target,
                              "ReadOnly": True})


def service_mounts(project: Project, svc: Service) -> dict:
    """{"binds": [...], "mounts": [...], "tmpfs": {...}} of a service."""
    out: dict = {"binds": [], "mounts": [], "tmpfs": {}}
    for i, v in enumerate(svc.get("volumes") or []):
        if isinstance(v, dict):
            _long(project, svc, i, v, out)
        else:
            _short(project, svc, i, str(v), out)
    tmpfs = svc.get("tmpfs")
    for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs or []):
        dst, _, opts = str(t).partition(":")
        if not dst.startswith("/"):
            raise _err(project, ("services", svc.name, "tmpfs"),
                       f"invalid tmpfs target {dst!r}: must be an absolute path")
        out["tmpfs"][dst] = opts
    _files(project, svc, "secrets", out)
    _files(project, svc, "configs", out)
    seen: dict = {}
    for m in out["mounts"]:
        t = m["Target"]
        for other in [*seen, *out["tmpfs"], *(b.split(":")[1] for b in out["binds"])]:
            if other == t:
                raise _err(project, ("services", svc.name), f"duplicate mount point {t}")
        seen[t] = m
    return out


def check(project: Project) -> None:
    """Translate every service's mounts once (raises the first ComposeError)."""
    for svc in project.services.values():
        service_mounts(project, svc)
