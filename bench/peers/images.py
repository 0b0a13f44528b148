"""A busybox root filesystem built from Debian's busybox-static, as a tarball or a directory.

The same rootfs boxnet builds for its built-in ``busybox`` image: /bin/busybox plus one
symlink per applet. Docker gets it through ``docker import`` (POST /images/create?fromSrc=-);
runc's reference start time uses it as an unpacked bundle rootfs.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = "/bin/busybox"


def applets() -> list[str]:
    """Names of the applets the installed busybox provides."""
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if a and a != "busybox"]


def rootfs_tar() -> bytes:
    """A busybox rootfs as an uncompressed tar (bytes), ready for `docker import`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "run"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for name in applets():
            info = tarfile.TarInfo(f"bin/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        for fname, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                            ("etc/group", "root:x:0:\n")):
            data = text.encode()
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def rootfs_dir(dest: Path) -> Path:
    """Unpack the busybox rootfs into dest (created) and return it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(rootfs_tar()), mode="r") as tar:
        tar.extractall(dest, filter="tar")
    return dest
