"""The daemon's healthcheck loop: one background task per running container
that has a probe, none for the others.

A lifecycle listener (core/events.py): `container_started` (a start, a restart
policy's start) and `sandbox_restored` (re-adopted at daemon start, as
dockerd's restore) reset State.Health to starting and start the task;
`sandbox_removed` (exit, stop, kill, rm) and `container_removed` cancel it (a
probe in flight is killed) and, as dockerd, leave the status unhealthy.
Between two probes a task is one asyncio timer: an idle container with a
30 s interval costs nothing.

Each probe runs through the runtime's exec (runtime/api.py exec_start) as
the container's user, in its working directory, with its environment (as
dockerd's: Config.User, WorkingDir, Env): stdout
and stderr into one buffer that keeps 4096 bytes (core/health.py), killed when
its Timeout passes (ExitCode -1, Docker's "Health check exceeded timeout"
message).  The rules (when, what a result changes) are core/health.py's; a
status change is announced on the event bus (`container_health_changed`:
the event feed's `health_status: healthy`).  Probes are not exec instances
(not in ExecIDs, no GET /exec/{id}/json) but, as dockerd's, each emits the
container events `exec_create: <cmd>` and `exec_start: <cmd>` (the command
as dockerd spells it: entrypoint, a space, the arguments joined) with its
`execID`, and `exec_die` with `execID` and `exitCode` when it ends (137 after
a timeout's kill); a probe that never ran has no exec_die.  `docker pause`
stops the probes (dropping the one in flight) and unpause resumes them
(paused/unpaused, called by core/resources.py), as dockerd.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING

from ..errors import BoxnetError
from ..model.health import HealthcheckResult
from . import health as rules
from .clock import now_rfc3339, parse_rfc3339
from .events import LifecycleListener

if TYPE_CHECKING:
    from ..model import Container

log = logging.getLogger(__name__)

# After a probe exits, how long its pipes may stay open (a child it left in the
# background holds them): the output read so far is kept, the rest dropped.
DRAIN_AFTER_EXIT = 1.0


class HealthMonitor(LifecycleListener):
    """Runs the healthchecks of the controller's running containers."""

    def __init__(self, ctl):
        """`ctl`: the Controller (its runtime, spawn, store and event bus)."""
        self.ctl = ctl
        self._tasks: dict[str, asyncio.Task] = {}
        self._starting: set[asyncio.Future] = set()   # execs a cancelled probe left behind

    def probing(self, container_id: str) -> bool:
        """True while the container's healthcheck task runs."""
        task = self._tasks.get(container_id)
        return task is not None and not task.done()

    # ---- lifecycle -------------------------------------------------------
    async def container_started(self, c: Container) -> None:
        """A start: health starting, its probe task begins."""
        self._begin(c)

    async def sandbox_restored(self, c: Container) -> None:
        """Re-adopted at daemon start: probed again from starting, as dockerd."""
        self._begin(c)
        self.ctl.save_container(c)

    async def sandbox_removed(self, c: Container) -> None:
        """The container stopped: no more probes; unhealthy, as dockerd shows it."""
        self._end(c)

    async def container_removed(self, c: Container) -> None:
        """Deleted: its task (if any) is gone."""
        self._end(c)

    def paused(self, c: Container) -> None:
        """`docker pause` (core/resources.py): the probes stop, the one in flight
        is dropped, the status shows unhealthy, as dockerd's monitor does."""
        self._end(c)

    def unpaused(self, c: Container) -> None:
        """`docker unpause`: the probes go on; the status stays what it is until
        the next result (dockerd reopens its monitor, nothing reset)."""
        if c.status == "running" and c.health is not None:
            self._begin(c, reset=False)

    def _begin(self, c: Container, reset: bool = True) -> None:
        probe = rules.probe_of(c.config.raw_config.get("Healthcheck"),
                               c.config.raw_config.get("Shell") or None)
        if probe is None:
            return
        self._end(c)
        if reset or c.health is None:
            c.health = rules.begin(c.health)
        self._tasks[c.id] = self.ctl.spawn(self._run(c, probe), f"healthcheck of {c.name}")

    def _end(self, c: Container) -> None:
        task = self._tasks.pop(c.id, None)
        if task is not None:
            task.cancel()
            rules.stop(c.health)

    def _kill_late(self, starting: asyncio.Future) -> None:
        """The exec of a probe cancelled while it started: kill what it made
        (its ExecProcess still reaps it)."""
        self._starting.discard(starting)
        if starting.cancelled() or starting.exception() is not None:
            return
        proc = starting.result()
        proc.kill()
        proc.close()

    # ---- the loop ----------------------------------------------------------
    async def _run(self, c: Container, probe: rules.Probe) -> None:
        # The start period counts from StartedAt (wall clock: a re-adopted
        # container started before this daemon); the timers are monotonic.
        since = max(0.0, time.time() - parse_rfc3339(c.started_at))
        t0 = time.monotonic() - since
        while True:
            await asyncio.sleep(rules.next_delay(probe, c.health, time.monotonic() - t0))
            if c.status != "running" or c.paused:   # paused() ends this task: a race
                continue
            begun = time.monotonic() - t0
            result = await self._probe(c, probe)
            if c.status != "running" or c.paused:   # exited or paused meanwhile: dropped
                continue
            changed = rules.record(c.health, probe, result, begun)
            self.ctl.save_container(c)
            if changed:
                log.info("container %s is %s", c.name, c.health.status)
                await self.ctl.events.container_health_changed(c)

    async def _probe(self, c: Container, probe: rules.Probe) -> HealthcheckResult:
        """Run the probe once in the container (killed at its timeout)."""
        start = now_rfc3339()
        exec_id = secrets.token_hex(32)   # as dockerd's: a random id, for the events only
        shown = f"{probe.argv[0]} {' '.join(probe.argv[1:])}"   # dockerd's spelling
        feed = self.ctl.event_feed
        feed.container_event(c, f"exec_create: {shown}", execID=exec_id)
        feed.container_event(c, f"exec_start: {shown}", execID=exec_id)
        # "" user, env and cwd: the container's own (its process in config.json),
        # which is what dockerd gives a probe (Config.User, WorkingDir, Env)
        starting = asyncio.ensure_future(self.ctl.runtime.exec_start(
            c.id, probe.argv, [], "", False, True, True))
        try:
            proc = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # runc goes on regardless: the process it makes must be killed and
            # watched to its end (an unreaped one of the container's pid namespace
            # would keep its init from exiting: kernel/reaper.py)
            self._starting.add(starting)
            starting.add_done_callback(self._kill_late)
            raise
        except (BoxnetError, OSError) as exc:   # it stopped meanwhile, runc failed, no fds
            return HealthcheckResult(start=start, end=now_rfc3339(), exit_code=-1,
                                     output=exc.message if isinstance(exc, BoxnetError)
                                     else f"cannot run the health check: {exc}")
        if not proc.pid:                 # never ran (not found...): dockerd's exec error
            proc.close()
            return HealthcheckResult(start=start, end=now_rfc3339(), exit_code=-1,
                                     output=proc.error)
        out = bytearray()

        async def drain(stream: int) -> None:
            while data := await proc.read(stream):
                if len(out) <= rules.MAX_OUTPUT:
                    out.extend(data[:rules.MAX_OUTPUT + 1 - len(out)])

        readers = [asyncio.ensure_future(drain(s)) for s in (1, 2)]
        try:
            try:
                code = await asyncio.wait_for(asyncio.shield(proc.exited), probe.timeout)
                timed_out = False
            except TimeoutError:
                proc.kill()
                code, timed_out = await proc.exited, True
            feed.container_event(c, "exec_die", execID=exec_id, exitCode=str(code))
            await asyncio.wait(readers, timeout=DRAIN_AFTER_EXIT)
        finally:
            for r in readers:
                r.cancel()
            if not proc.exited.done():   # cancelled (stop, rm): the probe goes too
                proc.kill()
            proc.close()
        text = rules.output_text(bytes(out))
        if timed_out:
            return HealthcheckResult(start=start, end=now_rfc3339(), exit_code=-1,
                                     output=rules.timeout_output(probe, text))
        return HealthcheckResult(start=start, end=now_rfc3339(), exit_code=code, output=text)
