"""OciRuntime: containers as OCI bundles run by runc.

Layout: <root>/containers/<id>/{config.json, rootfs/, upper/, work/, boxnet.json,
stdout.log, stderr.log, stdin.fifo, init.pid, runc.log}; runc state in <root>/runc.

- Root filesystem: an overlayfs (lower = image rootfs, upper/work in the
  bundle) mounted here before runc runs and unmounted on delete.  If overlay
  is refused (e.g. the bundle dir is itself on overlayfs) the image is copied.
  An image whose rootfs is a read-only mount (boxnet/host) is used directly.
- Stdio: stdin is /dev/null, or (open_stdin) a pipe whose write end is held
  by the container's shim (runtime/shim.py), so it stays open across daemon
  restarts and is closed only when asked (StdinOnce: `echo hi | docker run
  -i busybox cat` ends).  stdout/stderr are the log files opened O_APPEND
  and handed to the container directly (runc's pass-through mode), so output
  survives daemon restarts.
- Start in two steps (runtime/ociprep.py): `prepare` is `runc create`, run
  while the core plumbs the netns, and `start` lets the waiting init exec;
  a TTY container (or one not prepared) starts with one `runc run -d`.
- Exit codes: `runc run -d` (or `runc create`) is run by boxnet-supervisor (kernel/supervisor.py),
  one child subreaper per host that outlives the daemon: the init becomes its
  child, and it writes the init's exit code and time to <bundle>/exit.json
  (atomically) when it ends.  A pidfd per container tells the daemon when the
  init ends; the code comes from the supervisor (128+signal if killed), also
  for a container adopted after a daemon restart or upgrade, and last_exit()
  reads the record of one that exited while no daemon ran (runtime/ociexit.py).
- TTY: a container with tty=True gets a real pty (process.terminal, runc
  --console-socket); the master goes to the container's shim, which tees its
  output to stdout.log and serves attach clients (console() -> ShimConsole);
  it survives daemon restarts.
- Execs (exec_start, exec_tty, `exec -u`): runtime/ociexec.py; no exec's
  output is ever collected in memory.
- Nothing here reads a container's output or files whole, or does slow
  filesystem work on the event loop: the root's unmount runs in a thread,
  the bundle's removal in a child process (kernel/fstree.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil

from boxnet.errors import Conflict, KernelError, NotFound
from boxnet.kernel.console import ConsoleSocket
from boxnet.kernel.fstree import remove_tree
from boxnet.kernel.process import kill_and_wait, raise_nofile_limit, set_child_subreaper
from boxnet.kernel import reaper
from boxnet.kernel.runc import Runc, bind_readonly, is_mountpoint, mount_overlay, umount
from boxnet.kernel.supervise import SupervisorClient
from boxnet.runtime.api import ProcessSpec, RootDirs, Runtime
from boxnet.runtime.bundle import build_config
from boxnet.runtime.console import ShimConsole, shim_socket_path, start_shim
from boxnet.runtime.initstdio import InitStdio
from boxnet.runtime.logclock import LogClock
from boxnet.runtime.ociexec import ExecOps, OnExit
from boxnet.runtime.ociexit import ExitOps
from boxnet.runtime.ociprep import PrepareOps
from boxnet.runtime.users import resolve_in_rootfs

log = logging.getLogger(__name__)


class OciRuntime(PrepareOps, ExitOps, ExecOps, Runtime):
    """The Runtime interface on top of runc."""

    def __init__(self, root: str, runc_binary: str | None = None,
                 host_masked_paths: list[str] = []):
        """Bundles go under <root>/containers, runc state under <root>/runc.
        `host_masked_paths` are masked in containers of a read-only image root
        (boxnet/host: the daemon's state, runtime/hostimage.py).

        Marks the daemon process a child subreaper (the reaper of execs, and of
        what runc exec leaves: kernel/reaper.py; the supervisor reaps
        containers) and raises its open-files soft limit
        (one pidfd per running container)."""
        self.root = root
        self.host_masked_paths = list(host_masked_paths)
        self.bundles = os.path.join(root, "containers")
        os.makedirs(self.bundles, exist_ok=True)
        self.runc = Runc(os.path.join(root, "runc"), runc_binary)
        self.supervisor = SupervisorClient(root)
        set_child_subreaper()
        reaper.install()   # runc exec's orphaned stages: reaped, or a kill never ends
        raise_nofile_limit()
        self._watchers: dict = {}   # id -> ExitWatcher (runtime/ociexit.py)
        self.log_clock = LogClock()   # when the logs grew (runtime/logclock.py)
        self._meta: dict[str, dict] = {}
        self._tasks: set[asyncio.Task] = set()
        self._prepared: dict = {}   # id -> Prepared: created, not started (runtime/ociprep.py)

    async def close(self) -> None:
        """Daemon shutdown: stop the exit watches (containers keep running; the
        next start adopts them) and cancel the exits still being handed over."""
        for w in self._watchers.values():
            w.close()
        self._watchers.clear()
        for cid in list(self._prepared):   # created, never started: the next start deletes it
            self.drop_prepared(cid)
        self.log_clock.close()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.supervisor.close()
        reaper.uninstall()

    def _bundle(self, container_id: str) -> str:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise NotFound(f"No such container: {container_id}")
        return os.path.join(self.bundles, container_id)

    def log_paths(self, container_id: str) -> tuple[str, str]:
        """Paths of the files holding the container's stdout and stderr."""
        b = self._bundle(container_id)
        return os.path.join(b, "stdout.log"), os.path.join(b, "stderr.log")

    def console(self, container_id: str) -> ShimConsole | None:
        """The terminal (tty) or stdin (open_stdin) of a running container,
        held by its shim; None when it has neither or its shim is gone."""
        try:
            meta = self._load_meta(container_id)
        except NotFound:
            return None
        path = shim_socket_path(self.root, container_id)
        if not meta.get("stdin") or not os.path.exists(path):
            return None
        return ShimConsole(path, bool(meta.get("tty")))

    # -- create ----------------------------------------------------------------
    async def create(self, spec: ProcessSpec) -> None:
        """Write the bundle: writable root layer, config.json, empty logs (idempotent)."""
        b = self._bundle(spec.container_id)
        os.makedirs(b, exist_ok=True)
        meta = {"lower": spec.rootfs, "stdin": spec.open_stdin or spec.tty, "tty": spec.tty,
                "group_add": list(spec.group_add)}   # for `exec -u` (exec_user_process)
        if spec.readonly_rootfs:
            meta["mode"] = "bind"
            self._bind_root(b, spec.rootfs)
            root_path = "rootfs"
        else:
            meta["mode"] = await self._prepare_rootfs(b, spec.rootfs)
            root_path = "rootfs"
        # The user is looked up in the container's own files, as dockerd does at start.
        user = resolve_in_rootfs(os.path.join(b, "rootfs"), spec.user, spec.group_add)
        config = build_config(spec, root_path, spec.readonly_rootfs, user)
        if meta["mode"] == "bind":  # the host's "/": boxnet's own state is masked, as runc masks
            config["linux"]["maskedPaths"] = [*config["linux"]["maskedPaths"],
                                              *self.host_masked_paths]
        if spec.tty:
            config["process"]["terminal"] = True
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(config, f)
        with open(os.path.join(b, "boxnet.json"), "w") as f:
            json.dump(meta, f)
        self._meta[spec.container_id] = meta
        for p in self.log_paths(spec.container_id):
            open(p, "ab").close()

    @staticmethod
    def _bind_root(bundle: str, lower: str) -> None:
        """A private read-only, non-recursive bind of a read-only image root."""
        target = os.path.join(bundle, "rootfs")
        os.makedirs(target, exist_ok=True)
        st, want = os.stat(target), os.stat(lower)
        if (st.st_dev, st.st_ino) != (want.st_dev, want.st_ino):
            bind_readonly(lower, target)

    async def _prepare_rootfs(self, bundle: str, lower: str) -> str:
        """Mount the overlay at <bundle>/rootfs, or copy the image if overlay fails."""
        target = os.path.join(bundle, "rootfs")
        if os.path.exists(os.path.join(bundle, "rootfs.copy")):
            return "copy"
        if os.path.ismount(target):
            return "overlay"
        for d in ("rootfs", "upper", "work"):
            os.makedirs(os.path.join(bundle, d), exist_ok=True)
        try:
            mount_overlay(lower, os.path.join(bundle, "upper"), os.path.join(bundle, "work"), target)
            return "overlay"
        except OSError:
            pass
        # Why: overlayfs refuses an upper dir on overlayfs (CI inside Docker)
        # and some other filesystems; a private copy always works.
        os.rmdir(target)
        await asyncio.to_thread(shutil.copytree, lower, target, symlinks=True)
        open(os.path.join(bundle, "rootfs.copy"), "w").close()
        return "copy"

    def _load_meta(self, container_id: str) -> dict:
        meta = self._meta.get(container_id)
        if meta is None:
            try:
                with open(os.path.join(self._bundle(container_id), "boxnet.json")) as f:
                    meta = json.load(f)
            except FileNotFoundError:
                raise NotFound(f"No such container: {container_id}") from None
            self._meta[container_id] = meta
        return meta

    async def writable_root(self, container_id: str, lower: str,
                            readonly: bool = False, mount: bool = True) -> RootDirs:
        """The bundle's root (see Runtime.writable_root): the overlay is mounted
        here when missing, so a created container's files can be copied in
        before it starts (its start finds the overlay and keeps it)."""
        b = self._bundle(container_id)
        try:
            meta = self._load_meta(container_id)
        except NotFound:
            meta = {"mode": "bind" if readonly else "overlay", "lower": lower}
        if not mount:
            copy = os.path.exists(os.path.join(b, "rootfs.copy"))
            mode = meta["mode"] if meta["mode"] == "bind" else "copy" if copy else "overlay"
            return RootDirs(rootfs=os.path.join(b, "rootfs"), lower=meta["lower"], mode=mode,
                            upper=os.path.join(b, "rootfs" if copy else "upper")
                            if mode != "bind" else "")
        os.makedirs(b, exist_ok=True)
        if meta["mode"] == "bind":
            self._bind_root(b, meta["lower"])
            mode = "bind"
        else:
            mode = await self._prepare_rootfs(b, meta["lower"])
        return RootDirs(rootfs=os.path.join(b, "rootfs"), lower=meta["lower"], mode=mode,
                        upper=os.path.join(b, "upper") if mode == "overlay" else "")

    # -- start / adopt -----------------------------------------------------------
    async def _ready_bundle(self, container_id: str) -> tuple[str, dict]:
        """Before a run: the root mounted, no stale runc state, the logs
        watched; (bundle dir, meta).  Conflict if it runs already."""
        b = self._bundle(container_id)
        meta = self._load_meta(container_id)
        if meta["mode"] == "overlay" and not os.path.ismount(os.path.join(b, "rootfs")):
            await self._prepare_rootfs(b, meta["lower"])  # e.g. after a reboot
        elif meta["mode"] == "bind":
            self._bind_root(b, meta["lower"])
        if container_id in self._watchers or container_id in self._prepared:
            raise Conflict(f"container {container_id} is already running")
        if self.runc.init_process(container_id) is not None:
            await self.runc.delete(container_id)  # stale state of a previous run
        for p in self.log_paths(container_id):   # before the first byte: every line gets its time
            self.log_clock.watch(p)
        return b, meta

    async def start(self, container_id: str, on_exit: OnExit) -> int:
        """Run the container detached (`runc start` of one `prepare`d, else
        `runc run -d`); return the host pid of its init."""
        if container_id in self._prepared:
            return await self._start_prepared(container_id, on_exit)
        b, meta = await self._ready_bundle(container_id)
        out_path, err_path = self.log_paths(container_id)
        if meta.get("tty"):
            return await self._start_tty(container_id, b, on_exit)
        stdio = InitStdio(meta["stdin"], out_path, err_path)
        try:
            try:
                pid, pidfd = await self._run_runc(container_id, b, stdio.triple)
            except KernelError:
                raise KernelError(self._runc_failure(err_path, stdio.err_offset)) from None
            if stdio.stdin_w is not None:
                start_shim(self.root, b, container_id, pid, stdio.take_stdin_w(), False,
                           out_path, pidfd)
        finally:
            stdio.close()
        self._watch(container_id, pid, on_exit, pidfd=pidfd, started=True)
        return pid

    async def _start_tty(self, container_id: str, b: str, on_exit: OnExit) -> int:
        """Start a terminal container: runc hands us the pty master."""
        cs = ConsoleSocket(self.root)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        err_path = self.log_paths(container_id)[1]
        errfd = os.open(err_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        err_offset = os.fstat(errfd).st_size
        try:
            recv = asyncio.ensure_future(cs.receive())
            try:
                pid, pidfd = await self._run_runc(container_id, b, (null, null, errfd), cs.path)
            except KernelError:
                recv.cancel()
                raise KernelError(self._runc_failure(err_path, err_offset)) from None
            fd = await recv
        finally:
            os.close(null)
            os.close(errfd)
            cs.close()
        drained = start_shim(self.root, b, container_id, pid, fd, True,
                             self.log_paths(container_id)[0], pidfd)
        self._watch(container_id, pid, on_exit, drained, pidfd, started=True)
        return pid

    async def adopt(self, container_id: str, pid: int, on_exit: OnExit) -> bool:
        """ExitOps.adopt, and the log clock watches its logs again."""
        alive = await super().adopt(container_id, pid, on_exit)
        if alive:
            for p in self.log_paths(container_id):
                self.log_clock.watch(p)
        return alive

    def _runc_failure(self, err_path: str, offset: int) -> str:
        """runc's error message, cut back out of the container's stderr log."""
        with open(err_path, "r+b") as f:
            f.seek(offset)
            msg = f.read(65536).decode(errors="replace").strip()   # runc's line, bounded
            f.truncate(offset)
        return f"OCI runtime create failed: {msg or 'runc failed'}"

    async def kill(self, container_id: str, signal: int) -> None:
        """Signal the init (through its pidfd when watched); no error if gone."""
        w = self._watchers.get(container_id)
        if w is not None:
            w.send_signal(signal)
        elif self.runc.init_process(container_id) is not None:
            await self.runc.kill(container_id, signal)

    async def pause(self, container_id: str) -> None:
        """`runc pause`: the freezer holds every process of the container."""
        self._bundle(container_id)
        await self.runc.pause(container_id)

    async def resume(self, container_id: str) -> None:
        """`runc resume`: thaw the container."""
        self._bundle(container_id)
        await self.runc.resume(container_id)

    async def update(self, container_id: str, resources: dict) -> None:
        """`runc update`: new limits in the running container's cgroups."""
        self._bundle(container_id)
        await self.runc.update(container_id, resources)

    def cgroup_paths(self, container_id: str) -> dict[str, str]:
        """The cgroup directories runc recorded for the container."""
        return self.runc.cgroup_paths(self._bundle(container_id) and container_id)

    async def _runc_delete(self, container_id: str) -> str:
        """runc's state and cgroups removed; the error's text, "" if none."""
        try:
            await self.runc.delete(container_id)
        except KernelError as e:
            return e.message
        return ""

    async def delete(self, container_id: str) -> None:
        """Kill if running, drop runc's state, unmount the root, remove the bundle.

        Idempotent.  A watched init that is killed here still gets on_exit."""
        b = self._bundle(container_id)
        errors: list[str] = []
        self.drop_prepared(container_id)   # created, never started: killed below
        init = self.runc.init_process(container_id)
        if init is not None:
            await kill_and_wait(*init)
            # Why wait: the supervisor writes exit.json into the bundle as it
            # reaps the init; a write racing the bundle's removal below would
            # leave a file in a directory being removed (ENOTEMPTY).
            try:
                await asyncio.wait_for(self.supervisor.wait_exit(
                    container_id, os.path.join(b, "exit.json")), 5)
            except (asyncio.TimeoutError, OSError, ValueError) as e:
                log.warning("exit record of %s not confirmed: %s", container_id[:12], e)
        self._meta.pop(container_id, None)
        for p in self.log_paths(container_id):
            self.log_clock.unwatch(p)
        try:  # the shim removes it when the init exits; this covers a killed shim
            os.unlink(shim_socket_path(self.root, container_id))
        except FileNotFoundError:
            pass
        if self.runc.cgroup_empty(container_id):
            # Together: `runc delete` (a Go process, ~10 ms) reads only runc's state
            # and removes the cgroups, never the bundle; with no process left (a PID
            # namespace's last one is gone once its init is reaped) nothing uses the
            # root either.  Else (--pid=host leftovers) runc kills them first.
            got = await asyncio.gather(self._runc_delete(container_id),
                                       _remove_bundle(b))
        else:
            got = [await self._runc_delete(container_id), await _remove_bundle(b)]
        errors += [e for e in got if e]
        if errors:
            raise KernelError(f"delete {container_id}: " + "; ".join(errors))


async def _remove_bundle(b: str) -> str:
    """Unmount the bundle's root and remove the bundle; the error's text, "" if none."""
    rootfs = os.path.join(b, "rootfs")
    try:
        # In a thread: the last unmount of an overlay syncs its upper
        # layer, tens of ms (seconds for a big layer) the event loop
        # would wait (measured by bench/scenarios/bounded.py).
        await asyncio.to_thread(umount, rootfs)
        if os.path.ismount(rootfs) or is_mountpoint(rootfs):
            raise OSError(f"{rootfs} still mounted")
    except OSError as e:
        # Never rmtree through a mounted root: it would empty the image.
        return f"{e}; bundle kept"
    # A child process: a writable layer of a million files takes seconds to
    # remove, and the event loop (API, DNS) must keep answering (kernel/fstree.py).
    try:
        await remove_tree(b)
    except OSError as e:
        return str(e)
    return ""
