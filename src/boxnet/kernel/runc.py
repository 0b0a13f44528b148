"""The runc binary and the root-filesystem mounts of container bundles.

Every call is an asyncio subprocess: nothing here blocks the event loop except
the mount syscalls, which take microseconds.  Mounts use ctypes mount(2)
rather than the `mount` binary: a subprocess would cost ~3 ms per container.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import shutil

from boxnet.errors import KernelError, NotFound

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    rc = _libc.mount(source.encode(), target.encode(),
                     fstype.encode() if fstype else None, flags,
                     data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or 'bind'} on {target}: {os.strerror(err)}")


def mount_overlay(lower: str, upper: str, work: str, target: str) -> None:
    """Mount an overlayfs at `target` (lower read-only, upper/work writable)."""
    _mount("overlay", target, "overlay", 0,
           f"lowerdir={lower},upperdir={upper},workdir={work}")


def bind_readonly(source: str, target: str) -> None:
    """Bind `source` (non-recursively: no submounts) at `target`, read-only
    and private.

    Read-only so that nothing (runc creating mount points included) can write
    through it to the source filesystem.  Private because a bind of a shared
    mount (a systemd host's "/") joins its peer group: every later mount on
    the host would appear inside the containers using it, and theirs on it."""
    _mount(source, target, None, MS_BIND, None)
    try:
        _mount("none", target, None, MS_PRIVATE, None)
        _mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
    except OSError:
        umount(target)
        raise


def umount(target: str) -> None:
    """Lazily unmount `target`; no error if nothing is mounted there."""
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount point; ENOENT: no such path
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


def is_mountpoint(path: str) -> bool:
    """True when something is mounted at `path` (per /proc/self/mountinfo).

    os.path.ismount misses a bind mount of a directory of the same
    filesystem (same st_dev), e.g. the host image's bind of "/"."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            mp = line.split(b" ", 5)[4].decode("unicode_escape")
            if mp == path:
                return True
    return False


def _last_error(log_file: str, limit: int = 65536) -> str:
    """The last error message in a runc JSON log (its last `limit` bytes), "" if none."""
    try:
        with open(log_file, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - limit))
            lines = f.read().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", ""))
    return ""


class Runc:
    """Thin async wrapper around the runc CLI with a private state root."""

    def __init__(self, state_root: str, binary: str | None = None):
        """`state_root` is runc's --root (one per boxnet daemon)."""
        self.state_root = state_root
        self.binary = binary or shutil.which("runc") or "/usr/sbin/runc"
        os.makedirs(state_root, mode=0o700, exist_ok=True)

    def _argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.state_root, *args]

    async def _run(self, *args: str, stdin=asyncio.subprocess.DEVNULL) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            *self._argv(*args), stdin=stdin,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        return proc.returncode, out, err

    def run_argv(self, container_id: str, bundle: str, pid_file: str, log_file: str,
                 console_socket: str | None = None) -> list[str]:
        """The argv of `runc run -d`: create and start in one process, the init's
        pid written to `pid_file`.  Run by boxnet-supervisor (kernel/supervisor.py),
        the subreaper that outlives the daemon and reaps the container's init.

        With `console_socket` (config.json has terminal: true) runc sends the
        pty master there instead of using the given stdio.  Otherwise the stdio
        fds it is started with pass straight through to the container (runc's
        pass-through mode for detached, non-terminal containers).  runc's own
        log goes to `log_file`; its fatal error line also goes to stderr, so
        the caller must clean it from there on failure."""
        return self._argv("--log", log_file, "run", "-d", "--pid-file", pid_file,
                          *(["--console-socket", console_socket] if console_socket else []),
                          "--bundle", bundle, container_id)

    def create_argv(self, container_id: str, bundle: str, pid_file: str,
                    log_file: str) -> list[str]:
        """The argv of `runc create`: the init set up (namespaces, mounts,
        cgroups, the netns named in config.json joined) and left waiting on
        runc's exec fifo until `start`; its pid written to `pid_file`.  Run by
        boxnet-supervisor as `run_argv` is (the init becomes its child when
        runc exits); stdio passes through as for `run -d`."""
        return self._argv("--log", log_file, "create", "--pid-file", pid_file,
                          "--bundle", bundle, container_id)

    async def start(self, container_id: str, pidfd: int | None = None) -> None:
        """What `runc start` does: the created init execs the container's process.

        Done here without runc when its exec fifo is there: a `runc start` is a
        Go program's start-up (~6-8 ms here) to do three syscalls.  runc's
        protocol (libcontainer's exec(), the same from runc 1.0 to 1.2): the
        init, set up, blocks opening <state>/<id>/exec.fifo for writing; the
        starter opens it for reading, reads the init's one byte, and removes
        the fifo (runc then reports the container running, not created).
        Opened non-blocking, and the init's `pidfd` watched meanwhile, so an
        init that died is an error, never a wait for ever.  Without the fifo
        (another runc's layout) or a pidfd, `runc start` itself."""
        fifo = os.path.join(self.state_root, container_id, "exec.fifo")
        if pidfd is None or not os.path.exists(fifo):
            rc, _, err = await self._run("start", container_id)
            if rc != 0:
                raise KernelError(f"OCI runtime start failed: "
                                  f"{err.decode(errors='replace').strip() or f'exit {rc}'}")
            return
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        try:
            loop.add_reader(fd, lambda: woken.done() or woken.set_result("fifo"))
            loop.add_reader(pidfd, lambda: woken.done() or woken.set_result("exit"))
            try:
                await asyncio.wait_for(woken, 30)
            except asyncio.TimeoutError:
                raise KernelError(f"OCI runtime start failed: the init of {container_id} "
                                  f"did not open its exec fifo in 30 s") from None
            finally:
                loop.remove_reader(fd)
                loop.remove_reader(pidfd)
            try:
                data = os.read(fd, 16)
            except BlockingIOError:   # the init died before it wrote
                data = b""
        finally:
            os.close(fd)
        if not data:
            raise KernelError(f"OCI runtime start failed: container process of "
                              f"{container_id} is already dead")
        os.unlink(fifo)

    async def exec_detached(self, container_id: str, args: list[str], env: list[str], cwd: str,
                            stdio: tuple[int, int, int], pid_file: str, log_file: str,
                            process_file: str | None = None) -> int:
        """`runc exec -d`: start a process whose stdin/stdout/stderr are the
        given fds (runc's pass-through mode: the process holds them itself, no
        runc copies bytes); return its pid.

        The daemon, a child subreaper, becomes the process's parent when runc
        exits, so it reaps the exit code.  On failure raises KernelError with
        runc's own message (from its JSON log `log_file`: runc also prints it
        on the given stderr, which belongs to the caller).

        With `process_file` (an OCI process.json: `exec -u`, whose user and
        capabilities differ from the container's) runc takes the whole process
        from it: args, env and cwd are then in the file."""
        opts: list[str] = []
        for e in env:
            opts += ["--env", e]
        if cwd:
            opts += ["--cwd", cwd]
        if process_file:
            opts = ["--process", process_file]
        proc = await asyncio.create_subprocess_exec(
            *self._argv("--log", log_file, "--log-format", "json", "exec", "-d",
                        "--pid-file", pid_file, *opts, container_id, *args),
            stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])
        if await proc.wait() != 0:
            if not os.path.exists(self._state_file(container_id)):
                raise NotFound(f"No such container: {container_id}")
            raise KernelError(_last_error(log_file) or f"runc exec failed (exit {proc.returncode})")
        with open(pid_file) as f:
            return int(f.read().strip())

    async def exec_tty(self, container_id: str, args: list[str], env: list[str], cwd: str,
                       console_socket: str, pid_file: str,
                       process_file: str | None = None) -> int:
        """`runc exec -d -t`: start a process on a new pty (master sent to
        `console_socket`); return its pid.  The daemon, a child subreaper,
        becomes its parent when runc exits, so it can reap the exit code.
        `process_file`: as for exec_detached."""
        opts: list[str] = []
        for e in env:
            opts += ["--env", e]
        if cwd:
            opts += ["--cwd", cwd]
        if process_file:
            opts = ["--process", process_file]
        rc, _, err = await self._run("exec", "-d", "-t", "--console-socket", console_socket,
                                     "--pid-file", pid_file, *opts, container_id, *args)
        if rc != 0:
            raise KernelError(f"runc exec: {err.decode(errors='replace').strip()}")
        with open(pid_file) as f:
            return int(f.read().strip())

    async def kill(self, container_id: str, sig: int) -> None:
        """`runc kill`: signal the init process; no error if it is gone."""
        await self._run("kill", container_id, str(sig))

    async def delete(self, container_id: str) -> None:
        """`runc delete --force`: kill if needed and drop runc's state (idempotent)."""
        if not os.path.exists(self._state_file(container_id)):
            return
        rc, _, err = await self._run("delete", "--force", container_id)
        if rc != 0 and os.path.exists(self._state_file(container_id)):
            raise KernelError(f"runc delete {container_id}: {err.decode(errors='replace').strip()}")

    async def pause(self, container_id: str) -> None:
        """`runc pause`: freeze every process of the container (the freezer cgroup)."""
        rc, _, err = await self._run("pause", container_id)
        if rc != 0:
            raise KernelError(f"runc pause: {err.decode(errors='replace').strip()}")

    async def resume(self, container_id: str) -> None:
        """`runc resume`: thaw a paused container."""
        rc, _, err = await self._run("resume", container_id)
        if rc != 0:
            raise KernelError(f"runc resume: {err.decode(errors='replace').strip()}")

    async def update(self, container_id: str, resources: dict) -> None:
        """`runc update -r -`: apply OCI linux.resources (JSON on stdin) to the
        running container's cgroups.  runc reads absent fields as 0, which it
        leaves unchanged."""
        proc = await asyncio.create_subprocess_exec(
            *self._argv("update", "-r", "-", container_id), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate(json.dumps(resources).encode())
        if proc.returncode != 0:
            raise KernelError(f"runc update: {err.decode(errors='replace').strip()}")

    def cgroup_empty(self, container_id: str) -> bool:
        """Whether no process is left in the container's cgroups (one controller's
        ``cgroup.procs``: every controller holds the same processes); True when runc
        has no state for it, False when that cannot be read."""
        if not os.path.exists(self._state_file(container_id)):
            return True
        paths = self.cgroup_paths(container_id)
        path = paths.get("pids") or paths.get("") or next(iter(paths.values()), "")
        if not path:
            return False
        try:
            with open(os.path.join(path, "cgroup.procs"), "rb") as f:
                return not f.read(1)
        except FileNotFoundError:
            return True
        except OSError:
            return False

    def cgroup_paths(self, container_id: str) -> dict[str, str]:
        """The container's cgroup directories from runc's state.json (controller
        -> path; "" is the cgroup v2 one); {} when runc has no state for it.
        Kept by runc until `runc delete`, so also readable after the init died."""
        try:
            with open(self._state_file(container_id), "rb") as f:
                paths = json.loads(f.read()).get("cgroup_paths") or {}
        except (OSError, ValueError, AttributeError):
            return {}
        return {str(k): str(v) for k, v in paths.items()} if isinstance(paths, dict) else {}

    async def state(self, container_id: str) -> dict | None:
        """`runc state` as a dict (id, pid, status...), None if runc does not know it."""
        rc, out, _ = await self._run("state", container_id)
        return json.loads(out) if rc == 0 else None

    def _state_file(self, container_id: str) -> str:
        return os.path.join(self.state_root, container_id, "state.json")

    def init_process(self, container_id: str) -> tuple[int, int] | None:
        """(pid, start time in clock ticks) of the init recorded in runc's state.json.

        Reading the file directly costs microseconds where `runc state` costs
        ~10 ms: that matters when 1000 containers are re-adopted at start-up.
        None when runc has no state for the container."""
        try:
            with open(self._state_file(container_id), "rb") as f:
                st = json.loads(f.read())
            return int(st["init_process_pid"]), int(st["init_process_start"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
