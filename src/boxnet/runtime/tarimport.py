"""Safe extraction of root filesystem tarballs and `docker import --change` parsing.

Safety rules (the tarball is untrusted; we extract as root):
- no member path may contain ".." (a leading "/" is stripped, as Docker does:
  an absolute member lands inside the rootfs);
- no member is written through a symlink: every parent directory is checked
  with lstat, and an existing non-directory at the target is unlinked first
  (open() would otherwise follow a planted symlink out of the rootfs);
- hard links must name a regular file already extracted inside the rootfs;
- device nodes and FIFOs are skipped (runc provides /dev);
- with a Budget (runtime/layerstream.py) the uncompressed size and every
  member's declared size are bounded by the data root's free space;
- symlink targets are not checked: they are only resolved later, inside the
  container's root.
Owners, modes (setuid included) and mtimes are kept, as Docker does.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import tarfile
from typing import BinaryIO

from boxnet.errors import InvalidParameter
from boxnet.runtime.procopts import parse_signal
from boxnet.runtime.layerstream import (STREAM_ERRORS, BoundedTarInfo, Budget, finish,
                                        open_stream)


def _clean_name(name: str) -> str | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidParameter(f"invalid tar member path: {name!r}")
    return "/".join(parts) or None


def _check_parents(root: str, rel: str) -> None:
    path = root
    for part in rel.split("/")[:-1]:
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return  # created as a plain directory by tarfile
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidParameter(f"tar member {rel!r} would be written through a "
                                   f"non-directory ({part!r})")


def extract_rootfs(fileobj: BinaryIO, rootfs: str, budget: Budget | None = None) -> str:
    """Extract a (maybe compressed) tarball into `rootfs`; return the diff_id
    ("sha256:" digest of the uncompressed tar) of what was extracted.  With a
    Budget, every byte and member is charged to it (bombs are refused)."""
    what = "the imported tarball"
    plain, raw = open_stream(fileobj, budget, what)
    try:
        with tarfile.open(fileobj=plain, mode="r|",  # type: ignore[call-overload]
                          tarinfo=BoundedTarInfo) as tar:
            for m in tar:
                if budget is not None:
                    budget.member(m, what)
                _extract_one(tar, m, rootfs)
        return finish(plain, raw)[0]
    except InvalidParameter:
        raise
    except STREAM_ERRORS as e:
        raise InvalidParameter(f"bad tar archive: {e}") from None


def rootfs_size(path: str) -> int:
    """The bytes of the files under an extracted rootfs (an image's Size); files that
    vanish while it walks are skipped."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _extract_one(tar: tarfile.TarFile, m: tarfile.TarInfo, rootfs: str) -> None:
    rel = _clean_name(m.name)
    if rel is None or m.ischr() or m.isblk() or m.isfifo():
        return
    _check_parents(rootfs, rel)
    target = os.path.join(rootfs, rel)
    if m.islnk():
        src = _clean_name(m.linkname)
        if src is None:
            raise InvalidParameter(f"invalid hard link {m.name!r}")
        _check_parents(rootfs, src)
        try:
            st = os.lstat(os.path.join(rootfs, src))
        except FileNotFoundError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise InvalidParameter(f"hard link {m.name!r} to {m.linkname!r}: a hard link may "
                                   f"only name a regular file already inside the rootfs")
        m = m.replace(linkname=src, deep=False)
    try:
        st = os.lstat(target)
        if not (m.isdir() and stat.S_ISDIR(st.st_mode)):
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(target)
            else:
                os.unlink(target)
    except FileNotFoundError:
        pass
    m = m.replace(name=rel, deep=False)
    tar.extract(m, rootfs, set_attrs=True, numeric_owner=True, filter="fully_trusted")


def _parse_list_or_shell(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise InvalidParameter(f"invalid JSON in change: {value}") from None
        if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
            raise InvalidParameter(f"expected a JSON list of strings: {value}")
        return parsed
    return ["/bin/sh", "-c", value]


def apply_changes(config, changes: list[str]):
    """Apply Dockerfile instructions (`docker import --change`) to an ImageConfig.

    Supported: CMD, ENTRYPOINT, ENV, WORKDIR, LABEL, EXPOSE, USER, STOPSIGNAL."""
    for change in changes:
        if not change.strip():
            continue
        instr, _, rest = change.strip().partition(" ")
        instr, rest = instr.upper(), rest.strip()
        if instr == "CMD":
            config.Cmd = _parse_list_or_shell(rest)
        elif instr == "ENTRYPOINT":
            config.Entrypoint = _parse_list_or_shell(rest)
        elif instr == "WORKDIR":
            config.WorkingDir = rest
        elif instr == "USER":
            config.User = rest
        elif instr == "STOPSIGNAL":
            parse_signal(rest, "STOPSIGNAL")   # a 400 now rather than at `docker stop`
            config.StopSignal = rest
        elif instr in ("ENV", "LABEL"):
            pairs = _pairs(rest)
            if instr == "ENV":
                keys = dict(pairs)
                env = [e for e in config.Env if e.split("=", 1)[0] not in keys]
                config.Env = env + [f"{k}={v}" for k, v in pairs]
            else:
                config.Labels = {**config.Labels, **dict(pairs)}
        elif instr == "EXPOSE":
            ports = dict(config.ExposedPorts)
            for p in rest.split():
                ports[p if "/" in p else f"{p}/tcp"] = {}
            config.ExposedPorts = ports
        else:
            raise InvalidParameter(f"{instr} is not a valid change command")
    return config


def _pairs(rest: str) -> list[tuple[str, str]]:
    words = shlex.split(rest)
    if len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # legacy "ENV key value"
    out = []
    for w in words:
        k, eq, v = w.partition("=")
        if not eq:
            raise InvalidParameter(f"invalid key=value pair: {w}")
        out.append((k, v))
    return out
