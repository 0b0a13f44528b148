"""Container lifecycle: create, start (sandbox + endpoints + runtime), exit,
stop, kill, restart policies, wait and remove."""

from __future__ import annotations

import asyncio
import logging
import signal as signals

from ..drivers.api import HostStack, NoNetwork
from ..errors import BoxnetError, Conflict, InvalidParameter, NotFound, NotModified
from ..kernel import netns as kns
from ..kernel.fstree import remove_tree
from ..kernel import sysctl
from ..model import Container, ContainerConfig, EndpointSettings
from ..runtime.api import ProcessSpec
from ..runtime.resources import oci_resources
from ..kernel import cgroups
from ..runtime.secopts import parse_security_opts
from . import epopts, health, names, netmode, recovery, sandbox
from . import procstart
from .policykeeper import validate_labels as validate_policy
from .clock import now_rfc3339
from .naming import random_name
from .spans import Spans
from .teardown import Teardown
from .undo import rollback

log = logging.getLogger(__name__)


def security_fields(cfg: ContainerConfig, image_user: str) -> dict:
    """ProcessSpec's user, group_add, seccomp and no_new_privileges: --user (else
    the image's USER), --group-add and --security-opt (checked at create)."""
    hc = cfg.raw_host_config
    opts = parse_security_opts(hc.get("SecurityOpt"))
    return {"user": str(cfg.raw_config.get("User") or image_user or ""),
            "group_add": [str(g) for g in hc.get("GroupAdd") or []],
            "seccomp": opts.seccomp, "no_new_privileges": opts.no_new_privileges}


class ContainerOps:
    """Mixin of the Controller: containers."""

    def network_or_none(self, ref: str):
        """The network named/identified by `ref`, None when there is none."""
        try:
            return self.network(ref)
        except NotFound:
            return None

    def resolve_mode_network(self, mode: str) -> str:
        """NetworkMode -> network reference (default means the bridge network)."""
        return "bridge" if mode in ("", "default") else mode

    async def create_container(self, name: str | None, cfg: ContainerConfig,
                               endpoints: dict[str, EndpointSettings]) -> Container:
        """Validate and record a container; nothing runs yet."""
        spans = Spans(f"create of {name or 'a container'}")
        if name:
            name = names.validate_name(name, "container")
        else:
            name = random_name(self.cont_by_name)
        image = self.images.get(cfg.image)
        if not cfg.cmd and not cfg.entrypoint:
            cfg.cmd = list(image.config.Cmd)
            if not cfg.entrypoint:
                cfg.entrypoint = list(image.config.Entrypoint)
        if not cfg.cmd and not cfg.entrypoint:
            raise InvalidParameter("no command specified")
        validate_policy(cfg.labels)   # com.boxnet.policy (core/policykeeper.py)
        if not cfg.raw_config.get("User") and image.config.User:
            cfg.raw_config["User"] = image.config.User   # dockerd's merge: inspect shows it
        hc = health.merge(health.validate(cfg.raw_config.get("Healthcheck")),
                          image.config.Healthcheck)
        if hc is not None:   # dockerd's merge: inspect shows the image's fields too
            cfg.raw_config["Healthcheck"] = hc
        cfg.network_mode = self.resolve_mode_network(cfg.network_mode)
        if cfg.labels.get("com.boxnet.policy") is not None and (
                cfg.network_mode in ("host", "none") or netmode.is_container_mode(cfg.network_mode)):
            raise InvalidParameter(f"invalid policy: com.boxnet.policy needs a network of its own "
                                   f"(not network mode {cfg.network_mode})")
        if netmode.is_container_mode(cfg.network_mode):
            netmode.validate_create(cfg, endpoints)
            netmode.resolve_at_create(self, cfg)
        wanted = {} if netmode.is_container_mode(cfg.network_mode) else \
            self._wanted_networks(cfg, endpoints)
        if name in self.cont_by_name:
            other = self.cont_by_name[name]
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                           f'"{other.id}". You have to remove (or rename) that container to be '
                           f'able to reuse that name.')
        spans.mark("checks")
        async with rollback(f"create of container {name}") as undo:
            # volumes it names are made now, as dockerd does (removed if the create fails)
            mounts = await self.resolve_mounts(cfg.raw_config, cfg.raw_host_config,
                                               image.config.Volumes, undo)
            spans.mark("volumes")
            c = Container(id=names.new_id(), name=name, created=now_rfc3339(), config=cfg,
                          image_id=image.id, networks=wanted, mounts=mounts)
            self.save_container(c)
            spans.mark("store")
        self._index_container(c)
        await self.events.container_created(c)
        spans.mark("events")
        spans.log()
        return c

    def _wanted_networks(self, cfg: ContainerConfig,
                         endpoints: dict[str, EndpointSettings]) -> dict[str, EndpointSettings]:
        """Network id (or unknown ref) -> settings: the primary network first."""
        # An unknown network is reported at start, as dockerd does: a 404 at
        # create would make the docker CLI try to pull the image.
        primary = self.network_or_none(cfg.network_mode)
        pname = primary.name if primary else cfg.network_mode
        # The docker CLI keys the primary endpoint "default" when no --network is given.
        first = (endpoints.pop(pname, None) or (primary and endpoints.pop(primary.id, None))
                 or endpoints.pop("default", None) or EndpointSettings(network_id=""))
        wanted: dict[str, EndpointSettings] = {}
        used = {"lo"}   # interface names asked for (com.docker.network.endpoint.ifname)
        for ref, st in [(pname, first)] + list(endpoints.items()):
            epopts.check_ifname_clash(st, used, ref)
            used.add(epopts.requested_ifname(st))
            nw = self.network_or_none(ref)
            if nw is None:
                st.network_id = ref
                wanted[ref] = st
                continue
            st.network_id = nw.id
            self.validate_static(nw, st)
            wanted[nw.id] = st
        alone = any(self.network_has(self.networks[n], HostStack) or
                    self.network_has(self.networks[n], NoNetwork)
                    for n in wanted if n in self.networks)
        if len(wanted) > 1 and alone:
            raise InvalidParameter("container cannot be connected to multiple networks with one of "
                                   "the networks in host or private (none) mode")
        return wanted

    async def rename_container(self, ref: str, new_name: str) -> None:
        """Docker's rename: the new name (and DNS answers for it) at once; the
        endpoints' DNS names follow; the hostname is unchanged."""
        c = self.container(ref)
        new_name = names.validate_name(new_name, "container")
        if new_name == c.name:
            raise Conflict(f"Renaming a container with the same name as its current name")
        if new_name in self.cont_by_name:
            raise Conflict(f'Conflict. The container name "/{new_name}" is already in use by '
                           f'container "{self.cont_by_name[new_name].id}". You have to remove '
                           f'(or rename) that container to be able to reuse that name.')
        old = c.name
        eps = [ep for ep in self.eps_by_container.get(c.id, {}).values() if old in ep.dns_names]
        saved = [list(ep.dns_names) for ep in eps]
        try:
            with self.store.transaction():
                for ep in eps:
                    ep.dns_names = [new_name if n == old else n for n in ep.dns_names]
                    self.store.put("endpoints", ep.id, ep)
                c.name = new_name
                self.save_container(c)
        except BaseException:   # the store rolled the writes back: so does memory
            c.name = old
            for ep, dns_names in zip(eps, saved):
                ep.dns_names = dns_names
            raise
        self.cont_by_name.pop(old, None)
        self.cont_by_name[new_name] = c
        await self.events.container_renamed(c, old)

    # ---- start ---------------------------------------------------------
    async def start_container(self, ref: str) -> None:
        """Build the sandbox, join every network, start the process."""
        c = self.container(ref)
        async with self.clock(c.id):
            if self.containers.get(c.id) is not c:
                # Removed while this start waited for the lock (a restart
                # policy's start racing `rm`): starting it would leak its endpoints.
                raise NotFound(f"No such container: {ref}")
            if c.status == "running":
                raise NotModified("container already started")
            await self._start_locked(c)

    async def _make_netns(self, c: Container, spans: Spans) -> str | None:
        """The container's own netns, pinned, with its defaults and `lo` up (None
        for host mode: c.sandbox_key is then "")."""
        if self.uses_host_stack(c):
            c.sandbox_key = ""
            return None
        c.sandbox_key = sandbox.netns_path(self.config.netns_dir, c.id)
        await asyncio.to_thread(kns.create_netns, c.sandbox_key)
        recovery.record_netns(c)   # its inode: a re-pin must find this very netns
        spans.mark("netns")
        return c.sandbox_key

    async def _netns_defaults(self, c: Container, spans: Spans) -> None:
        """accept_ra off, EUI-64 link-local (before any interface exists in
        it), `lo` up.  runc needs none of it: done while runc sets up."""
        if c.sandbox_key:
            await asyncio.to_thread(sysctl.sandbox_defaults, c.sandbox_key)
            await self.nl.link_lo_up(c.sandbox_key)
            spans.mark("netns defaults")

    def _etc_paths(self, c: Container) -> dict[str, str]:
        """The /etc files' bind-mount map (host mode: no /etc/hosts of its own);
        their content is written by _join_networks, in place."""
        etc = sandbox.etc_paths(sandbox.container_dir(self.config.containers_dir, c.id))
        if not c.sandbox_key:
            etc.pop("/etc/hosts", None)
        return etc

    async def _join_networks(self, c: Container, spans: Spans) -> None:
        """Its netns's defaults, then join every network of `c` in it and write
        its /etc files."""
        await self._netns_defaults(c, spans)
        for nid, st in list(c.networks.items()):
            nw = self.networks.get(nid)
            if nw is None:
                raise NotFound(f"failed to set up container networking: network {nid} "
                               f"not found")
            await self.join_network(c, nw, st, c.sandbox_key)
            spans.mark(f"join {nw.name}")
        sandbox.write_files(sandbox.container_dir(self.config.containers_dir, c.id), c,
                            self.container_endpoints(c.id),
                            host_gateway=sandbox.host_gateway_ip(
                                self.networks, self.config.host_gateway_ips),
                            default_dns=self.config.dns,
                            links=self.link_lines(c, strict=True))
        spans.mark("etc files")

    async def _plumb(self, c: Container, spans: Spans) -> None:
        """The network side of a start: joins, /etc files, sandbox_ready (DNS,
        ports, policy), default routes; c is "running" from here on."""
        if not netmode.is_container_mode(c.config.network_mode):
            await self._join_networks(c, spans)
        await self.events.sandbox_ready(c)
        spans.mark("sandbox_ready")
        c.status = "running"
        await self.after_endpoints_changed(c)
        spans.mark("routes")

    async def _process_spec(self, c: Container, image, netns: str | None,
                            etc: dict[str, str]) -> ProcessSpec:
        """The runtime's ProcessSpec of a start of `c` (its volumes mounted)."""
        return ProcessSpec(container_id=c.id, rootfs=image.rootfs,
                           args=list(c.config.entrypoint) + list(c.config.cmd),
                           env=list(image.config.Env) + list(c.config.env),
                           cwd=c.config.working_dir or image.config.WorkingDir or "/",
                           hostname=c.config.hostname or c.id[:12],
                           domainname=c.config.domainname,
                           netns_path=netns, etc_files=etc,
                           binds=[] if c.mounts else list(c.config.binds),  # older records
                           mounts=await self.mount_specs(c, image.rootfs),
                           tty=c.config.tty,
                           open_stdin=c.config.open_stdin,
                           readonly_rootfs=image.readonly, tmpfs=list(image.tmpfs),
                           sysctls=dict(c.config.raw_host_config.get("Sysctls") or {}),
                           resources=oci_resources(c.config.raw_host_config,
                                                   devnums=cgroups.block_device),
                           **security_fields(c.config, image.config.User),
                           **(await procstart.process_fields(self, c)))

    @staticmethod
    def _overlaps(c: Container) -> bool:
        """Whether runc's set-up may run while the netns is plumbed: not when a
        --sysctl of net.* is set (runc writes it at create, and one naming an
        interface needs the interface there: eth0 is made by the join), nor for
        --network container:X (no plumbing to overlap)."""
        return not netmode.is_container_mode(c.config.network_mode) and not any(
            k.startswith("net.") for k in c.config.raw_host_config.get("Sysctls") or {})

    async def _prepared_alongside(self, c: Container, spans: Spans) -> None:
        """runc's set-up of the process (Runtime.prepare) while the netns is
        plumbed (_plumb): both must succeed.  On any failure, the cancel of
        the start included, the preparation is waited for and undone
        (Runtime.abort) before the error goes on to the start's rollback."""
        prep = asyncio.ensure_future(self.runtime.prepare(c.id))
        try:
            await self._plumb(c, spans)
            await asyncio.shield(prep)
            spans.mark("runc create (rest)")
        except BaseException:
            await asyncio.wait([prep])   # never left running behind the rollback
            if not prep.cancelled() and prep.exception() is not None:
                log.debug("prepare of %s: %s", c.name, prep.exception())
            await self.runtime.abort(c.id)
            raise

    async def _start_locked(self, c: Container) -> None:
        spans = Spans(f"start of {c.name}")
        image = self.images.get(c.image_id)
        try:
            if netmode.is_container_mode(c.config.network_mode):
                netns, etc = netmode.join_target(self, c)  # no sandbox of its own
            else:
                netns = await self._make_netns(c, spans)
                etc = self._etc_paths(c)
                # the files exist (empty) for the runtime's bind mounts; their
                # content is written in place once the endpoints are known
                sandbox.touch_files(etc)
            spec = await self._process_spec(c, image, netns, etc)
            spans.mark("spec")
            await self.runtime.create(spec)
            spans.mark("bundle")
            if self._overlaps(c):
                await self._prepared_alongside(c, spans)
            else:
                await self._plumb(c, spans)
            c.pid = await self.runtime.start(c.id, self.exit_handler(c.id))
            spans.mark("runc start")
            recovery.record_process(c)   # start time + boot id: a recycled pid is not it
        except BaseException as exc:
            c.status = "created" if c.started_at.startswith("0001") else "exited"
            c.error = exc.message if isinstance(exc, BoxnetError) else str(exc)
            try:   # a process set up and not started (none: nothing)
                await self.runtime.abort(c.id)
            except BoxnetError as e:   # the next start deletes runc's stale state
                log.warning("abort of %s's prepared process failed: %s", c.name, e.message)
            await self._teardown_sandbox(c)
            self.release_mounts(c)   # a tmpfs or bind volume mounted for it
            self.save_container(c)
            if c.config.auto_remove:   # as dockerd: `run --rm` that cannot start is removed
                self.spawn(self.remove_container(c.id, force=True, volumes=True),
                           f"removal of {c.name}")
            raise
        c.started_at = now_rfc3339()
        c.error = ""
        c.exit_code = 0  # as dockerd: a running container shows ExitCode 0
        c.oom_killed = False
        c.manually_stopped = False
        await self.events.container_started(c)   # the healthcheck begins (core/healthmon.py)
        self.save_container(c)
        spans.mark("started")
        spans.log()

    async def _teardown_sandbox(self, c: Container) -> list[str]:
        """Leave every network and drop the netns pin; carries on past errors,
        which are logged and returned (a pin left is an orphan the next
        start removes)."""
        await self.events.sandbox_removed(c)
        steps = Teardown(f"sandbox teardown of {c.name}")
        released = not netmode.has_running_sharers(self, c)
        for ep in self.container_endpoints(c.id):
            self.remember_addresses(c, ep)
            await steps.run(f"leave of {ep.ifname}", self.leave_network, c,
                            self.networks.get(ep.network_id), ep, released=released)
        if c.sandbox_key:
            await steps.run("its netlink handle", self.nl.forget_netns, c.sandbox_key)
            await steps.run("its netns pin", asyncio.to_thread, kns.delete_netns, c.sandbox_key)
            c.sandbox_key = ""
            recovery.forget_netns(c)
        await steps.run("its /dev/shm", procstart.release_shm, self, c)   # --ipc shareable
        if steps.errors:
            log.warning("%s", steps.message())
        return steps.errors

    # ---- exit, restart policy -----------------------------------------
    def exit_handler(self, cid: str):
        """The runtime's on_exit for a container: its exit is handled in a
        background task of the controller's (cancelled at shutdown)."""
        def exited(code: int) -> None:
            self.spawn(self._on_exit(cid, code), f"exit of container {cid[:12]}")
        return exited

    async def _on_exit(self, cid: str, code: int) -> None:
        c = self.containers.get(cid)
        if c is None:
            return
        async with self.clock(cid):
            if c.status != "running":
                return
            c.status, c.exit_code, c.pid = "exited", code, 0
            c.finished_at = now_rfc3339()
            self.note_exit_resources(c)   # OOMKilled, from the memory cgroup (core/resources.py)
            recovery.forget_process(c)
            await self._teardown_sandbox(c)
            self.release_mounts(c)
            self.save_container(c)
        for fut in self._waiters.pop(cid, []):
            if not fut.done():
                fut.set_result(code)
        if c.config.auto_remove:   # dockerd's auto-remove takes the anonymous volumes too
            await self.remove_container(cid, force=True, volumes=True)
        elif self.should_restart(c):
            self.spawn(self._policy_restart(c), f"restart of {c.name}")

    def should_restart(self, c: Container) -> bool:
        """Docker's restart policies (always, unless-stopped, on-failure[:N])."""
        pol = c.config.restart_policy
        if c.manually_stopped or pol.name in ("", "no"):
            return False
        if pol.name == "on-failure":
            return c.exit_code != 0 and (pol.maximum_retry_count == 0
                                         or c.restart_count < pol.maximum_retry_count)
        return pol.name in ("always", "unless-stopped")

    async def _policy_restart(self, c: Container) -> None:
        await asyncio.sleep(min(0.1 * (2 ** min(c.restart_count, 8)), 10))
        if c.id not in self.containers or c.manually_stopped or c.status == "running":
            return
        c.restart_count += 1
        try:
            await self.start_container(c.id)
        except BoxnetError as exc:
            log.warning("restart of %s failed: %s", c.name, exc.message)

    # ---- stop, kill, wait, remove -------------------------------------
    async def kill_container(self, ref: str, sig: int = signals.SIGKILL) -> None:
        """Send a signal; Conflict if the container is not running.  SIGKILL waits
        (up to 10 s) until the exit is recorded, as dockerd's Kill does, so the
        container is no longer running when the API answers."""
        c = self.container(ref)
        if c.status != "running":
            raise Conflict(f"Cannot kill container: {ref}: container {c.id} is not running")
        fut = self.wait_future(c) if sig == signals.SIGKILL else None
        await self.runtime.kill(c.id, sig)
        await self.thaw_after_signal(c)   # a paused container gets it once thawed
        if fut is not None:
            try:
                await asyncio.wait_for(asyncio.shield(fut), 10)
            except asyncio.TimeoutError:
                log.warning("%s: no exit recorded 10 s after SIGKILL", c.name)
            finally:
                fut.cancel()

    async def stop_container(self, ref: str, timeout: float | None = None,
                             sig: int | None = None) -> None:
        """The stop signal (`sig`, else Config.StopSignal, the image's, SIGTERM), then
        SIGKILL after the timeout (else Config.StopTimeout, else 10 s)."""
        c = self.container(ref)
        if c.status != "running":
            raise NotModified("container already stopped")
        c.manually_stopped = True
        self.save_container(c)
        fut = self.wait_future(c)
        await self.runtime.kill(c.id, sig or procstart.stop_signal(self, c))
        await self.thaw_after_signal(c)
        try:
            await asyncio.wait_for(asyncio.shield(fut),
                                   procstart.stop_timeout(c) if timeout is None else timeout)
        except asyncio.TimeoutError:
            await self.runtime.kill(c.id, signals.SIGKILL)
            await asyncio.wait_for(asyncio.shield(fut), 30)

    def wait_future(self, c: Container, next_exit: bool = False) -> asyncio.Future:
        """A future resolved with the exit code when the container stops: at
        once with the last one if it is not running, unless `next_exit` (wait
        for the exit of a start to come: `docker run`, attach).  Cancel it to
        stop waiting: it is forgotten."""
        fut = asyncio.get_running_loop().create_future()
        if c.status != "running" and not next_exit:
            fut.set_result(c.exit_code)
            return fut
        return self._keep_waiter(self._waiters, c.id, fut)

    def removed_future(self, c: Container) -> asyncio.Future:
        """A future resolved with the container's last exit code when it is
        removed (`wait --condition removed`, `docker run --rm`): at once if it
        is gone already.  Cancel it to stop waiting: it is forgotten."""
        fut = asyncio.get_running_loop().create_future()
        if c.id not in self.containers:
            fut.set_result(c.exit_code)
            return fut
        return self._keep_waiter(self._removal_waiters, c.id, fut)

    @staticmethod
    def _keep_waiter(table: dict, cid: str, fut: asyncio.Future) -> asyncio.Future:
        table[cid].append(fut)

        def forget(f: asyncio.Future) -> None:
            waiters = table.get(cid)
            if waiters is not None and f in waiters:
                waiters.remove(f)
                if not waiters:
                    del table[cid]
        fut.add_done_callback(forget)
        return fut

    async def remove_container(self, ref: str, force: bool = False,
                               volumes: bool = False) -> None:
        """Remove a stopped container (force: kill it first; volumes: `rm -v`,
        its anonymous volumes too, core/mounts.py)."""
        c = self.container(ref)
        spans = Spans(f"removal of {c.name}")
        if c.status == "running":
            if not force:
                raise Conflict(f"You cannot remove a running container {c.id}. Stop the container "
                               f"before attempting removal or force remove")
            c.config.auto_remove = False
            c.manually_stopped = True   # its restart policy must not start it again
            fut = self.wait_future(c)
            await self.runtime.kill(c.id, signals.SIGKILL)
            await self.thaw_after_signal(c)
            spans.mark("kill")
            await asyncio.wait_for(asyncio.shield(fut), 30)
            spans.mark("exit")
        async with self.clock(c.id):
            if c.id not in self.containers:
                return
            # every step is tried even when one fails; one error lists the failures
            steps = Teardown(f"removal of container {c.name}")
            steps.errors += await self._teardown_sandbox(c)
            spans.mark("sandbox")
            # together: two separate trees, each removed by a child process (~6 ms of
            # process start each) or runc (~10 ms), none waiting for the other
            await asyncio.gather(
                steps.run("its runtime state", self.runtime.delete, c.id),
                steps.run("its directory", remove_tree,   # off the event loop, as the bundle
                          sandbox.container_dir(self.config.containers_dir, c.id)))
            spans.mark("state and directory")
            await steps.run("its removal from the store", self.store.delete, "containers", c.id)
            spans.mark("store")
            self._unindex_container(c)
            self.forget_execs(c.id)
            if volumes:
                await self.remove_anonymous_volumes(c, steps)
        await self.events.container_removed(c)
        spans.log()
        log.info("container %s removed", c.name)
        steps.done()


