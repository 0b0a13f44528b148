"""The built-in busybox image's root filesystem, made from Debian's busybox-static."""

from __future__ import annotations

import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"


def build_busybox_rootfs(rootfs: str) -> int:
    """Fill `rootfs` with /bin/busybox, its applet links and a minimal /etc;
    return its size in bytes."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev",
              "root", "var/tmp", "home", "run"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "var/tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin/busybox"))
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True,
                             check=True, text=True).stdout.split()
    for rel in applets:
        link = os.path.join(rootfs, rel)
        if rel == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        "etc/hosts": "", "etc/resolv.conf": "", "etc/hostname": "",
    }
    for rel, text in files.items():
        with open(os.path.join(rootfs, rel), "w") as f:
            f.write(text)
    return os.stat(BUSYBOX).st_size
