"""The Runtime interface: how the core starts and stops container processes.

The core never runs runc itself; it calls these methods.  Networking is not
the runtime's business: the core hands it the path of an already pinned
network namespace (or None for host mode) and the files boxnet wrote
(/etc/hosts, /etc/resolv.conf, /etc/hostname) to bind-mount.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Awaitable, Callable

import msgspec

if TYPE_CHECKING:
    from .console import Console, ShimConsole


class ProcessSpec(msgspec.Struct, kw_only=True):
    """Everything needed to create one container's OCI bundle."""

    container_id: str
    rootfs: str                     # image root filesystem (read-only lower layer)
    args: list[str]
    env: list[str] = []
    cwd: str = "/"
    hostname: str = ""
    domainname: str = ""
    netns_path: str | None = None   # None: share the daemon's netns (host mode)
    etc_files: dict[str, str] = {}  # container path -> host file to bind-mount (e.g. /etc/hosts)
    binds: list[str] = []           # docker -v syntax: "/host:/ctr[:ro]"
    mounts: list[dict] = []         # OCI mounts of volumes, binds, tmpfs (core/mounts.py)
    tty: bool = False
    open_stdin: bool = False
    readonly_rootfs: bool = False   # image wants a read-only root (boxnet/host)
    tmpfs: list[str] = []           # extra private writable tmpfs mounts (e.g. /tmp, /run)
    sysctls: dict[str, str] = {}    # namespaced sysctls (--sysctl), set by runc in the container
    user: str = ""                  # --user or the image's USER: resolved in the container's
    group_add: list[str] = []       # /etc/passwd and /etc/group at create (runtime/users.py)
    seccomp: str = "default"        # "default", "unconfined" or a profile's JSON (runtime/seccomp.py)
    no_new_privileges: bool = False
    # Process options (runtime/procopts.py; Docker's meanings):
    caps: list[str] | None = None   # the capability set; None: Docker's default
    privileged: bool = False        # all devices, no seccomp/masked/read-only paths, /sys rw
    init: str = ""                  # host path of tini, bound at /sbin/docker-init as PID 1
    read_only: bool = False         # --read-only: root.readonly (/etc files and mounts stay)
    shm_size: int = 0               # bytes of /dev/shm (0: 64 MiB)
    oom_score_adj: int | None = None
    rlimits: list[dict] = []        # OCI process.rlimits (--ulimit)
    devices: list[dict] = []        # OCI linux.devices (--device, privileged: the host's)
    device_rules: list[dict] = []   # extra linux.resources.devices allow rules
    uts_host: bool = False          # UTSMode host: the host's hostname
    pid_ns: str = ""                # "": own; "host"; or /proc/<pid>/ns/pid to join
    ipc_ns: str = ""                # "": own; "host"; or /proc/<pid>/ns/ipc to join
    shm: str = ""                   # "": own tmpfs at /dev/shm; "none"; or a path to bind there
    cgroup_ns: bool = False         # CgroupnsMode private: a cgroup namespace of its own
    resources: dict = {}            # OCI linux.resources but devices (runtime/resources.py)


class ExecResult(msgspec.Struct, kw_only=True):
    """Outcome of a non-interactive exec."""

    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


class RootDirs(msgspec.Struct, kw_only=True):
    """Where a container's root filesystem is on the host (Runtime.writable_root)."""

    rootfs: str                     # the mounted root as the container starts with it
    upper: str = ""                 # its writable layer ("" when the image was copied)
    lower: str = ""                 # the image's root
    mode: str = "overlay"           # "overlay", "copy" (private copy) or "bind" (read-only)


class ExitRecord(msgspec.Struct, kw_only=True):
    """How a container's init ended, as recorded by whoever reaped it."""

    exit_code: int
    finished_at: str = ""   # RFC 3339, "" when unknown


class Runtime(abc.ABC):
    """Runs containers.  Every method is idempotent where it can be."""

    @abc.abstractmethod
    async def create(self, spec: ProcessSpec) -> None:
        """Write the bundle (config.json, writable layer) for a container."""

    @abc.abstractmethod
    async def start(self, container_id: str, on_exit: Callable[[int], Awaitable[None] | None]) -> int:
        """Start the container process, return its host pid.

        `on_exit(exit_code)` is called once when the process ends (exit code
        128+signal when killed by a signal)."""

    async def prepare(self, container_id: str) -> bool:
        """Set the created container's process up without running it (its
        namespaces, mounts, cgroups; the netns it names must exist), so that
        `start` only lets it run; True when done.  A runtime that cannot split
        its start returns False and `start` does it all (the default)."""
        return False

    async def abort(self, container_id: str) -> None:
        """Undo `prepare` of a container that will not start (nothing when
        it was not prepared); the bundle stays."""

    async def discard(self, container_id: str) -> None:
        """At daemon start, for a container not running (not adopted): kill a
        process of it the runtime still has (a start cut short by a crash);
        the bundle stays.  Nothing by default."""

    @abc.abstractmethod
    async def adopt(self, container_id: str, pid: int,
                    on_exit: Callable[[int], Awaitable[None] | None]) -> bool:
        """After a daemon restart: watch a still-running container again.

        Returns False when the process is gone (on_exit is then not called)."""

    async def last_exit(self, container_id: str, pid: int) -> ExitRecord | None:
        """The recorded end of the run of `container_id` whose init was `pid`
        (one that exited while no daemon watched it); None when unknown."""
        return None

    @abc.abstractmethod
    async def kill(self, container_id: str, signal: int) -> None:
        """Send a signal to the container's init process (no error if gone)."""

    @abc.abstractmethod
    async def delete(self, container_id: str) -> None:
        """Remove the runc state and the bundle (writable layer included)."""

    @abc.abstractmethod
    async def exec(self, container_id: str, args: list[str], env: list[str],
                   cwd: str, tty: bool, stdin: bytes | None = None,
                   user: str = "") -> ExecResult:
        """Run a short process inside a running container and collect its output."""

    @abc.abstractmethod
    async def exec_start(self, container_id: str, args: list[str], env: list[str], cwd: str,
                         stdin: bool, stdout: bool, stderr: bool, user: str = "",
                         privileged: bool = False):
        """Start a process inside a running container; return its ExecProcess
        (runtime/execproc.py): a pipe per wanted stream, read in bounded
        chunks, and its exit code as a future.  `user` ("" = the container's
        own) is resolved in the container's /etc/passwd (`exec -u`);
        `privileged` (`exec --privileged`) gives it every capability boxnetd holds."""

    @abc.abstractmethod
    async def exec_tty(self, container_id: str, args: list[str], env: list[str], cwd: str,
                       on_exit: Callable[[int], Awaitable[None] | None],
                       user: str = "", privileged: bool = False) -> Console:
        """Start `args` in a running container on a new pty (`exec -t`); return
        its Console (runtime/console.py), held by the daemon as long as the
        exec's connection; `on_exit(code)` when the process ends; `user` and
        `privileged` as for exec_start."""

    @abc.abstractmethod
    def console(self, container_id: str) -> ShimConsole | None:
        """The terminal (tty) or stdin (open_stdin) of a running container, for
        attach and resize; None when it has neither or its holder is gone."""

    @abc.abstractmethod
    def check_user(self, container_id: str, user: str) -> None:
        """InvalidParameter unless `user` (`exec -u`) resolves in the running
        container's /etc/passwd and /etc/group."""

    async def writable_root(self, container_id: str, lower: str,
                            readonly: bool = False, mount: bool = True) -> RootDirs:
        """The container's root filesystem on the host side (the overlay of the
        image `lower` and its writable layer; a read-only bind when `readonly`),
        mounted now if it is not (a created container that never ran, a
        reboot): `docker cp`, diff, export and commit read and write it.  With
        mount=False nothing is mounted (sizes only: `upper` may not exist)."""
        raise NotImplementedError("this runtime has no root filesystem to show")

    @abc.abstractmethod
    def log_paths(self, container_id: str) -> tuple[str, str]:
        """Paths of the files holding the container's stdout and stderr."""

    async def pause(self, container_id: str) -> None:
        """Freeze every process of a running container (`docker pause`)."""
        raise NotImplementedError("this runtime cannot pause containers")

    async def resume(self, container_id: str) -> None:
        """Thaw a paused container (`docker unpause`)."""
        raise NotImplementedError("this runtime cannot pause containers")

    async def update(self, container_id: str, resources: dict) -> None:
        """Apply OCI linux.resources to a running container (`docker update`)."""
        raise NotImplementedError("this runtime cannot update resources")

    def cgroup_paths(self, container_id: str) -> dict[str, str]:
        """The container's cgroup directories (controller -> path, "" for cgroup
        v2), also after its init ended and until it is deleted; {} if unknown."""
        return {}

    async def close(self) -> None:
        """Daemon shutdown: stop watching containers (they keep running: the
        next start adopts them) and end the runtime's own background tasks."""
