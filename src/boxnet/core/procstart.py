"""A container's process options at start and stop: the lookups procopts cannot do.

runtime/procopts.py checks the options at create and gives the ProcessSpec
fields that need nothing else; here the core adds what needs the host or
other containers: device nodes (`--device`, and every host device for a
privileged container: kernel/procfacts.py), another container's PID or IPC
namespace (`--pid container:X`, `--ipc container:X`, which must be running;
IPC also needs it `shareable` or host, Docker's rule) and the /dev/shm that
goes with an IPC namespace: the host's (`--ipc host`), or, for a shareable
container, a tmpfs boxnetd mounts on the host at <container dir>/shm and binds
at /dev/shm of the donor and of every container joining it.  Why on the host,
as Docker does: a joiner cannot bind the donor's own /dev/shm, which lives in
the donor's mount namespace (the kernel refuses a bind from another mount
namespace with EINVAL).  It is unmounted when the donor's sandbox goes.  Also the stop signal and timeout
(Config.StopSignal, else the image's, SIGTERM; Config.StopTimeout, else 10 s).
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from ..errors import Conflict, InvalidParameter, NotFound
from ..kernel import procfacts, volmount
from ..model import Container
from ..runtime import procopts
from ..runtime.procbundle import INIT_PATH
from . import sandbox

if TYPE_CHECKING:
    from .controller import Controller

DEFAULT_STOP_TIMEOUT = 10
DEFAULT_SHM = 64 << 20   # Docker's /dev/shm size


def shm_dir(ctl: "Controller", c: Container) -> str:
    """Where a shareable container's /dev/shm is mounted on the host."""
    return os.path.join(sandbox.container_dir(ctl.config.containers_dir, c.id), "shm")


async def _shareable_shm(ctl: "Controller", c: Container, size: int) -> str:
    path = shm_dir(ctl, c)

    def mount() -> None:
        os.makedirs(path, mode=0o700, exist_ok=True)
        volmount.mount_tmpfs(path, ("nosuid", "nodev", "noexec"), f"mode=1777,size={size}")
    await asyncio.to_thread(mount)
    return path


async def release_shm(ctl: "Controller", c: Container) -> None:
    """Unmount a shareable container's host-side /dev/shm (none there: nothing)."""
    path = shm_dir(ctl, c)
    if os.path.isdir(path):
        await asyncio.to_thread(volmount.unmount, path)


def _running_peer(ctl: "Controller", c: Container, ref: str, what: str) -> Container:
    other = ctl.container(ref)
    if other.id == c.id:
        raise InvalidParameter(f"cannot join own {what} namespace")
    if other.status != "running" or not other.pid:
        raise Conflict(f"cannot join {what} of a non running container: {ref}")
    return other


def _image_root_readonly(ctl: "Controller", c: Container) -> bool:
    try:
        return ctl.images.get(c.image_id).readonly
    except NotFound:
        return False


def _devices(hc: dict, privileged: bool) -> list[dict]:
    out = procfacts.host_devices() if privileged else []
    for host, ctr, perms in procopts.parse_devices(hc.get("Devices")):
        nodes = procfacts.device_nodes(host, ctr)
        if not nodes:
            raise InvalidParameter(f"error gathering device information while adding custom "
                                   f"device {host!r}: not a device node (or missing)")
        out = [d for d in out if d["path"] not in {n["path"] for n in nodes}]
        out += [dict(n, access=perms) for n in nodes]
    return out


async def process_fields(ctl: "Controller", c: Container) -> dict:
    """The ProcessSpec fields of `c`'s process options (400/409 when a lookup fails)."""
    cfg, hc = c.config.raw_config, c.config.raw_host_config
    facts = procfacts.host_facts()
    out = procopts.spec_fields(cfg, hc, facts)
    if hc.get("Init") is None and ctl.config.init:   # dockerd --init: the daemon's default
        out["init"] = facts.init_path
    if out["init"] and _image_root_readonly(ctl, c):
        if hc.get("Init") is None:
            out["init"] = ""   # the daemon's default cannot apply: runc could not mount it
        else:
            raise InvalidParameter(f"Init: image {c.config.image} has a read-only root (the "
                                   f"host's '/'), where {INIT_PATH} cannot be mounted")
    out["devices"] = _devices(hc, out["privileged"])
    pid_mode, pid_ref = procopts.ns_mode(hc, "PidMode")
    if pid_mode == "host":
        out["pid_ns"] = "host"
    elif pid_mode == "container":
        out["pid_ns"] = f"/proc/{_running_peer(ctl, c, pid_ref, 'PID').pid}/ns/pid"
    ipc_mode, ipc_ref = procopts.ns_mode(hc, "IpcMode")
    if ipc_mode == "host":
        out["ipc_ns"], out["shm"] = "host", "/dev/shm"
    elif ipc_mode == "none":
        out["shm"] = "none"
    elif ipc_mode == "shareable":
        out["shm"] = await _shareable_shm(ctl, c, out["shm_size"] or DEFAULT_SHM)
    elif ipc_mode == "container":
        other = _running_peer(ctl, c, ipc_ref, "IPC")
        theirs, _ = procopts.ns_mode(other.config.raw_host_config, "IpcMode")
        if theirs == "host":
            out["ipc_ns"], out["shm"] = "host", "/dev/shm"
        elif theirs == "shareable":
            out["ipc_ns"], out["shm"] = f"/proc/{other.pid}/ns/ipc", shm_dir(ctl, other)
        else:
            raise Conflict(f"cannot join IPC of container {ipc_ref}: non-shareable IPC "
                           f"(hint: use IpcMode:shareable for the donor container)")
    return out


def stop_signal(ctl: "Controller", c: Container) -> int:
    """The signal `docker stop` sends `c`: its StopSignal, else its image's, else SIGTERM."""
    try:
        image_signal = ctl.images.get(c.image_id).config.StopSignal
    except NotFound:   # its image removed since: the container's own rule, else SIGTERM
        image_signal = ""
    return procopts.stop_signal(c.config.raw_config, image_signal)


def stop_timeout(c: Container) -> float:
    """Seconds `docker stop` waits before SIGKILL: StopTimeout (-1: for ever), else 10."""
    t = procopts.stop_timeout(c.config.raw_config)
    if t is None:
        return DEFAULT_STOP_TIMEOUT
    return float("inf") if t < 0 else t
