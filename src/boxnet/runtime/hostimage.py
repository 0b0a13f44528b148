"""The boxnet/host image: the host's root filesystem as a read-only image, opt-in.

A container of this image can read every file of the host's "/" filesystem
(configuration, keys, other services' data): that is its purpose (run host
programs such as python3, nginx or iperf3 in an isolated netns) and its risk.
So it exists only when boxnetd runs with --allow-host-image; without the flag
it is not listed, and any use of it (run, create, inspect, rmi) is a 403 that
says how to enable it.  The repository name boxnet/host is reserved either way:
no load, import or tag may take it.

With the flag, what a container of it sees is narrowed (runtime/oci.py):
- its root is a private, read-only, non-recursive bind of "/": no submount of
  the host comes along, and no mount propagates either way (a bind of a shared
  "/" would join its peer group and receive every later host mount);
- boxnet's own state is masked the way runc's maskedPaths are (an empty
  read-only tmpfs on a directory, /dev/null on a file): the data root, the
  exec root (netns pins), the API socket (root-equivalent: a container that
  reaches it controls the host), the pidfile, /run/netns and the default
  boxnet paths;
- so are the host's password hashes and SSH keys (/etc/shadow, /etc/gshadow,
  /etc/ssh), which no program run this way needs.  Everything else the host
  holds stays readable: that is the risk the flag accepts.
"""

from __future__ import annotations

import hashlib
import os

from boxnet.errors import Forbidden, InvalidParameter

HOST_REPO = "boxnet/host"
HOST_TAG = HOST_REPO + ":latest"
HOST_KEY = b"boxnet-host-v1"
HOST_ID = "sha256:" + hashlib.sha256(HOST_KEY).hexdigest()
HOST_TMPFS = ["/tmp", "/run", "/var/tmp"]

# Paths of boxnet state that are masked even when this daemon uses others:
# another boxnetd with the default roots may run on the same host.
DEFAULT_STATE_PATHS = ["/var/lib/boxnet", "/run/boxnet", "/var/run/boxnet",
                       "/run/netns", "/var/run/netns"]
HOST_SECRETS = ["/etc/shadow", "/etc/gshadow", "/etc/ssh"]


def is_host_ref(ref: str, tagged: str) -> bool:
    """Whether `ref` (as typed; `tagged` is its normalized name:tag) names
    the host image: its repository, its full id or its bare hex id."""
    return (tagged.rsplit(":", 1)[0] == HOST_REPO or ref == HOST_ID or ref == HOST_ID[7:])


def disabled(ref: str) -> Forbidden:
    """The error for any use of the host image on a daemon without the flag."""
    return Forbidden(
        f"image {ref}: the boxnet/host image is disabled on this daemon. It gives containers "
        f"read access to the host's whole root filesystem; to allow it, start boxnetd with "
        f"--allow-host-image (see the README, 'Images')")


def check_tag(tag: str, image_id: str) -> None:
    """Refuse a normalized name:tag in the reserved boxnet/host repository
    unless it is for the built-in host image itself."""
    if tag.rsplit(":", 1)[0] == HOST_REPO and image_id != HOST_ID:
        raise InvalidParameter(f"{tag}: the repository name {HOST_REPO} is reserved for "
                               f"boxnet's built-in host image; choose another name")


def masked_paths(data_root: str, exec_root: str, socket: str, pidfile: str = "") -> list[str]:
    """The container paths masked in a boxnet/host container: boxnet's data
    root, exec root, API socket and pidfile (as given and with symlinks
    resolved), the default boxnet state paths and HOST_SECRETS; sorted, no
    duplicates."""
    out: set[str] = set(DEFAULT_STATE_PATHS + HOST_SECRETS)
    for p in (data_root, exec_root, socket, pidfile):
        if p:
            out.add(os.path.abspath(p))
            out.add(os.path.realpath(p))
    return sorted(out)
