"""In-memory fakes of the core's host-side collaborators: netlink, the
netns/sysctl/fstree kernel calls the core makes directly, the runtime, the
image store, and a lifecycle listener standing for DNS and ports.

Every operation consults the shared `Faults` first (core_fakes_net.py).
`FakeKernel.install` swaps the real kernel functions for these and turns
starting any program (runc, nft, ip, rm) into a test failure, so the core's
unit tests never need root and never touch the machine's namespaces.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import subprocess

from boxnet.core import containers as core_containers
from boxnet.core.events import LifecycleListener
from boxnet.errors import KernelError, NotFound, NotImplementedFeature
from boxnet.kernel import netns as kernel_netns, procid as kernel_procid, sysctl as kernel_sysctl
from boxnet.runtime.api import Runtime
from boxnet.runtime.imagemeta import Image, ImageConfig

from core_fakes_net import Faults


class FakeKernel:
    """Pinned network namespaces (a plain file each, so os.stat works) and
    the routes inside them; a namespace's routes go with it."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.netns: dict[str, dict] = {}     # path -> {"routes": {v6: (gateway, ifname)}}

    def create_netns(self, path: str) -> None:
        """Pin a new netns at `path` (KernelError if one is pinned there)."""
        self.faults.hit("netns.create")
        if path in self.netns:
            raise KernelError(f"network namespace {path} already exists")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()
        self.netns[path] = {"routes": {}}

    def delete_netns(self, path: str) -> None:
        """Unpin; a missing netns is success (idempotent, as the real one)."""
        self.faults.hit("netns.delete")
        self.netns.pop(path, None)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def netns_exists(self, path: str) -> bool:
        """Whether a netns is pinned at `path`."""
        return path in self.netns

    def netns_identity(self, path: str):
        """(st_dev, st_ino) of a pinned netns, None when none is pinned there."""
        if path not in self.netns:
            return None
        st = os.stat(path)
        return st.st_dev, st.st_ino

    def repin_from_process(self, path: str, pid: int, still_same, expect):
        """No fake process outlives its daemon: refused, as for a dead process."""
        self.faults.hit("netns.repin")
        raise KernelError(f"process {pid} is not the recorded one")

    def list_pinned(self, directory: str) -> list[str]:
        """Pinned netns under `directory`."""
        return sorted(p for p in self.netns if os.path.dirname(p) == directory)

    def sandbox_defaults(self, path: str) -> None:
        """The sandbox sysctls (needs the netns)."""
        self.faults.hit("sysctl.sandbox_defaults")
        if path not in self.netns:
            raise KernelError(f"no netns {path}")

    async def remove_tree(self, path: str) -> None:
        """A container's directory (OSError when injected to fail)."""
        self.faults.hit("fstree.remove_tree")
        if os.path.lexists(path):
            shutil.rmtree(path)

    def install(self, monkeypatch) -> None:
        """Replace the kernel calls of the core; forbid starting programs."""
        for name in ("create_netns", "delete_netns", "netns_exists", "list_pinned",
                     "netns_identity", "repin_from_process"):
            monkeypatch.setattr(kernel_netns, name, getattr(self, name))
        monkeypatch.setattr(kernel_sysctl, "sandbox_defaults", self.sandbox_defaults)
        # a fake pid is nobody: never look it up among the machine's processes
        monkeypatch.setattr(kernel_procid, "identify", lambda pid: None)
        monkeypatch.setattr(core_containers, "remove_tree", self.remove_tree)

        def forbidden(*args, **kw):
            raise AssertionError(f"a core unit test started a program: {args[:1]}")
        monkeypatch.setattr(asyncio, "create_subprocess_exec", forbidden)
        monkeypatch.setattr(asyncio, "create_subprocess_shell", forbidden)
        monkeypatch.setattr(subprocess, "Popen", forbidden)


class FakeNetlink:
    """The netlink calls the core makes itself (routes, loopback, links)."""

    def __init__(self, faults: Faults, kernel: FakeKernel):
        self.faults, self.kernel = faults, kernel

    def _ns(self, path: str) -> dict:
        ns = self.kernel.netns.get(path)
        if ns is None:
            raise KernelError(f"no netns {path}")
        return ns

    async def host_routes(self, v4: bool = True, v6: bool = True) -> list:
        """No host route to avoid."""
        self.faults.hit("netlink.host_routes")
        return []

    async def link_lo_up(self, netns_path: str) -> None:
        """Loopback up in the sandbox."""
        self.faults.hit("netlink.link_lo_up")
        self._ns(netns_path)

    async def set_default_route(self, netns_path: str, gateway: str, ifname: str) -> None:
        """Replace the family's default route."""
        self.faults.hit("netlink.set_default_route")
        self._ns(netns_path)["routes"][":" in gateway] = (gateway, ifname)

    async def del_default_route(self, netns_path: str, v6: bool) -> None:
        """Delete the family's default route; idempotent."""
        self.faults.hit("netlink.del_default_route")
        self._ns(netns_path)["routes"].pop(v6, None)

    async def forget_netns(self, path: str) -> None:
        """Drop a cached handle into the netns."""
        self.faults.hit("netlink.forget_netns")

    async def delete_link(self, name: str, netns: str | None = None) -> None:
        """No error if absent."""
        self.faults.hit("netlink.delete_link")

    async def link_exists(self, name: str, netns: str | None = None) -> bool:
        """No link outside the driver's dicts."""
        return False

    async def list_links(self, netns: str | None = None) -> list:
        """Nothing for orphan removal to look at."""
        return []

    def mark(self, kind: str) -> str:
        """The ownership alias."""
        return f"boxnet-test:{kind}"

    def is_mine(self, alias, kind=None) -> bool:
        """Whether an alias is this daemon's mark."""
        return bool(alias) and alias.startswith("boxnet-test:") and \
            (kind is None or alias.endswith(":" + kind))

    async def settle(self, timeout: float = 5.0) -> None:
        """No background deletion to wait for."""
        self.faults.hit("netlink.settle")

    async def close(self) -> None:
        """Nothing open."""


class FakeRuntime(Runtime):
    """Bundles and processes by container id; `exit()` ends a process as the
    real runtime's watcher does (calling the core's on_exit)."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.state: dict[str, str] = {}      # id -> "created" | "running" | "exited"
        self.specs: dict = {}
        self._on_exit: dict = {}
        # above any pid_max (at most 2**22): never a real process, so nothing
        # that reads /proc/PID (process identities) finds one
        self._next_pid = 5_000_000
        self.tasks: set[asyncio.Task] = set()

    async def create(self, spec) -> None:
        """Write the bundle."""
        self.faults.hit("runtime.create")
        self.state[spec.container_id], self.specs[spec.container_id] = "created", spec

    async def prepare(self, container_id: str) -> bool:
        """Set the process up (runc create): it yields to the loop, as the real
        one waits for runc while the core plumbs the netns."""
        await asyncio.sleep(0)
        self.faults.hit("runtime.prepare")
        if self.state.get(container_id) != "created":
            raise KernelError(f"no bundle for {container_id}")
        self.state[container_id] = "prepared"
        return True

    async def abort(self, container_id: str) -> None:
        """Undo a prepare: the waiting process is killed."""
        self.faults.hit("runtime.abort")
        if self.state.get(container_id) == "prepared":
            self.state[container_id] = "created"

    async def discard(self, container_id: str) -> None:
        """A process left by a start a crash cut short is killed."""
        self.faults.hit("runtime.discard")
        if self.state.get(container_id) == "prepared":
            self.state[container_id] = "created"

    async def start(self, container_id: str, on_exit) -> int:
        """Start the process of a created (or prepared) bundle."""
        self.faults.hit("runtime.start")
        if self.state.get(container_id) == "prepared":
            self.state[container_id] = "created"
        if self.state.get(container_id) != "created":
            raise KernelError(f"no bundle for {container_id}")
        self.state[container_id], self._on_exit[container_id] = "running", on_exit
        self._next_pid += 1
        return self._next_pid

    async def exit(self, container_id: str, code: int) -> None:
        """The process ends with `code`; the core's on_exit runs."""
        if self.state.get(container_id) != "running":
            return
        self.state[container_id] = "exited"
        res = self._on_exit.pop(container_id)(code)
        if inspect.isawaitable(res):
            await res

    async def adopt(self, container_id: str, pid: int, on_exit) -> bool:
        """Nothing survives a fake daemon restart."""
        return False

    async def kill(self, container_id: str, signal: int) -> None:
        """Signal the process: it exits with 128+signal soon after."""
        self.faults.hit("runtime.kill")
        if self.state.get(container_id) == "running":
            task = asyncio.get_running_loop().create_task(self.exit(container_id, 128 + signal))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def delete(self, container_id: str) -> None:
        """Remove state and bundle; no error if absent.  It yields to the loop,
        as the real one waits for runc."""
        self.faults.hit("runtime.delete")
        await asyncio.sleep(0)
        self.state.pop(container_id, None)
        self.specs.pop(container_id, None)

    async def exec(self, container_id, args, env, cwd, tty, stdin=None, user=""):
        """Not used by the core's lifecycle."""
        raise NotImplementedFeature("exec in the fake runtime")

    async def exec_start(self, container_id, args, env, cwd, stdin, stdout, stderr, user=""):
        """Not used by the core's lifecycle."""
        raise NotImplementedFeature("exec in the fake runtime")

    async def exec_tty(self, container_id, args, env, cwd, on_exit, user=""):
        """Not used by the core's lifecycle."""
        raise NotImplementedFeature("exec -t in the fake runtime")

    def console(self, container_id: str):
        """No container has a terminal here."""
        return None

    def check_user(self, container_id: str, user: str) -> None:
        """Every user exists."""

    def log_paths(self, container_id: str) -> tuple[str, str]:
        """No logs."""
        return os.devnull, os.devnull


class FakeImages:
    """One image, busybox."""

    def __init__(self, faults: Faults, rootfs: str):
        self.faults = faults
        self.image = Image(id="sha256:" + "b" * 64, repo_tags=["busybox:latest"],
                           config=ImageConfig(Cmd=["sh"]), rootfs=rootfs)

    def get(self, ref: str) -> Image:
        """The image by name or id (NotFound otherwise)."""
        self.faults.hit("images.get")
        if ref in ("busybox", "busybox:latest", self.image.id):
            return self.image
        raise NotFound(f"No such image: {ref}")


EVENTS = ("network_created", "network_removed", "container_created", "sandbox_ready",
          "endpoint_joined", "endpoint_left", "sandbox_restored", "sandbox_removed",
          "container_removed", "container_renamed")


class FakeListener(LifecycleListener):
    """A listener like DNS: a record per endpoint of a running sandbox.
    Every event is counted as `listener.<event>` and may be made to fail."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.ctl = None
        self.records: set[tuple[str, str]] = set()   # (container id, endpoint id)

    def _apply(self, event: str, *args) -> None:
        if event == "sandbox_ready":
            self.records |= {(args[0].id, ep.id) for ep in self.ctl.container_endpoints(args[0].id)}
        elif event == "endpoint_joined":
            self.records.add((args[0].id, args[2].id))
        elif event == "endpoint_left":
            self.records.discard((args[0].id, args[2].id))
        elif event in ("sandbox_removed", "container_removed"):
            self.records = {r for r in self.records if r[0] != args[0].id}


def _event(name: str):
    async def handler(self, *args) -> None:
        self.faults.hit("listener." + name)
        self._apply(name, *args)
    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"The core's {name} event."
    return handler


for _name in EVENTS:
    setattr(FakeListener, _name, _event(_name))
