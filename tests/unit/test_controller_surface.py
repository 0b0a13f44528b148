"""The controller's declared surface and lifecycle hygiene (issue 15 items 1, 5).

Static checks over src/ (AST, not grep: comments and strings do not count):
nothing sets attributes on the controller from outside, the API reaches no
private controller or runtime state and asks the runtime only what its
interface declares, aiohttp state uses web.AppKey, no background task is
left unkept, no `except Exception: pass` and no bare except.  Then the
controller itself, built with stand-ins: its background tasks are kept and
cancelled at close, a failed one is logged with what it was, exit waiters
are forgotten when cancelled, and its listeners are registered in order.
No root needed.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
from pathlib import Path

import pytest

from boxnet.core.collaborators import NameService, PortService
from boxnet.core.config import DaemonConfig
from boxnet.core.controller import Controller
from boxnet.core.eventfeed import EventFeed
from boxnet.core.events import LifecycleListener
from boxnet.model import Container, ContainerConfig
from boxnet.runtime.api import Runtime

SRC = Path(__file__).resolve().parents[2] / "src" / "boxnet"
CONTROLLER_NAMES = {"ctl", "controller"}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(), str(path))


def _is_controller(node: ast.AST, in_api: bool) -> bool:
    """`ctl`, `controller`, `self.ctl` (and, in api/, `c`: a route's controller)."""
    if isinstance(node, ast.Name):
        return node.id in CONTROLLER_NAMES or (in_api and node.id == "c")
    return isinstance(node, ast.Attribute) and node.attr == "ctl"


def test_nothing_sets_attributes_on_the_controller_from_outside():
    bad = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
            for t in targets:
                if isinstance(t, ast.Attribute) and _is_controller(t.value, rel.startswith("api/")):
                    bad.append(f"{rel}:{t.lineno}: {ast.unparse(t)} =")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "setattr" and node.args \
                    and _is_controller(node.args[0], rel.startswith("api/")):
                bad.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, bad


def test_no_private_state_or_guessed_attributes_of_the_controller_and_runtime():
    bad = []
    for rel, tree in _modules():
        in_api = rel.startswith("api/")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                owner = node.value
                if _is_controller(owner, in_api) or (
                        isinstance(owner, ast.Attribute) and owner.attr == "runtime"):
                    bad.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "hasattr") and node.args:
                first = node.args[0]
                if _is_controller(first, in_api) or (
                        isinstance(first, ast.Attribute) and first.attr == "runtime"):
                    bad.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, bad


def test_the_api_asks_the_runtime_only_what_its_interface_declares():
    declared = {name for name, _ in inspect.getmembers(Runtime, inspect.isfunction)}
    asked = {}
    for rel, tree in _modules():
        if not (rel.startswith("api/") or rel.startswith("core/")):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "runtime":
                asked.setdefault(node.attr, f"{rel}:{node.lineno}")
    assert {"console", "exec_tty", "log_paths", "exec_start"} <= set(asked), asked
    undeclared = {k: v for k, v in asked.items() if k not in declared}
    assert not undeclared, undeclared


def test_aiohttp_state_uses_app_keys():
    bad = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                    and isinstance(node.slice.value, str) \
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "app" \
                    or isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                    and node.value.id == "app" and isinstance(node.slice, ast.Constant):
                bad.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, bad


def test_no_background_task_is_left_unkept():
    """A task whose only reference is the loop's weak one can be collected mid-flight."""
    bad = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                f = node.value.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                in_group = isinstance(f, ast.Attribute) and ast.unparse(f.value) in ("tg", "group")
                if name in ("create_task", "ensure_future") and not in_group:  # a TaskGroup keeps its own
                    bad.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not bad, bad


def test_no_swallowed_exceptions():
    """No bare except; no `except Exception/BaseException: pass` (log it, or narrow it)."""
    bad = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ExceptHandler):
                continue
            if node.type is None:
                bad.append(f"{rel}:{node.lineno}: bare except")
                continue
            names = {ast.unparse(t) for t in (node.type.elts if isinstance(node.type, ast.Tuple)
                                               else [node.type])}
            if names & {"Exception", "BaseException"} \
                    and all(isinstance(s, ast.Pass) for s in node.body):
                bad.append(f"{rel}:{node.lineno}: except {', '.join(sorted(names))}: pass")
    assert not bad, bad


def test_every_constructor_parameter_is_typed():
    sig = inspect.signature(Controller.__init__)
    untyped = [n for n, p in sig.parameters.items()
               if n != "self" and p.annotation is inspect.Parameter.empty]
    assert not untyped, untyped
    for name in ("host_id", "dns", "ports", "event_feed", "cluster"):
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name


# ---- the controller built with stand-ins ------------------------------------

class _Names(LifecycleListener):
    def __init__(self, ctl):
        self.ctl, self.closed, self.changes = ctl, False, 0

    def changed(self) -> None:
        self.changes += 1

    async def close_all(self) -> None:
        self.closed = True


class _Ports(LifecycleListener):
    def __init__(self, ctl):
        self.ctl = ctl

    def bindings(self, container_id: str) -> list:
        return []


def _controller(tmp_path) -> Controller:
    cfg = DaemonConfig(data_root=str(tmp_path / "data"), exec_root=str(tmp_path / "exec"))
    return Controller(cfg, None, None, None, None, None, None, None, host_id="h" * 8,
                      dns=_Names, ports=_Ports, event_feed=EventFeed())


def test_collaborators_are_built_with_the_controller_and_listen_in_order(tmp_path):
    ctl = _controller(tmp_path)
    assert ctl.dns.ctl is ctl and ctl.ports.ctl is ctl
    assert isinstance(ctl.dns, NameService) and isinstance(ctl.ports, PortService)
    assert ctl.events.listeners == [ctl.dns, ctl.ports, ctl.event_feed, ctl.health, ctl.policy]
    assert ctl.remote_endpoints() == ([], {})   # no cluster
    assert ctl.host_id == "h" * 8


async def test_background_tasks_are_kept_logged_and_cancelled_at_close(tmp_path, caplog):
    ctl = _controller(tmp_path)
    gate = asyncio.Event()
    started = asyncio.Event()

    async def forever():
        started.set()
        await gate.wait()

    async def broken():
        raise RuntimeError("boom")

    long = ctl.spawn(forever(), "a long job")
    with caplog.at_level(logging.ERROR, logger="boxnet.core.controller"):
        ctl.spawn(broken(), "a broken job")
        await started.wait()
        await asyncio.sleep(0)
    assert ctl.background_tasks == 1   # the broken one is gone, the long one kept
    assert any("a broken job" in r.getMessage() and "boom" in r.getMessage()
               for r in caplog.records), caplog.text
    await ctl.close()
    assert long.cancelled() and ctl.background_tasks == 0
    assert ctl.dns.closed
    ran = []

    async def late():
        ran.append(1)
    task = ctl.spawn(late(), "an exit reported during shutdown")
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and not ran and ctl.background_tasks == 0


async def test_a_cancelled_exit_waiter_is_forgotten(tmp_path):
    ctl = _controller(tmp_path)
    c = Container(id="c" * 64, name="w", created="", config=ContainerConfig(image="busybox"),
                  image_id="", status="created", exit_code=7)
    assert ctl.wait_future(c).result() == 7          # not running: the last exit code
    nxt = ctl.wait_future(c, next_exit=True)         # `docker run`: the exit to come
    other = ctl.wait_future(c, next_exit=True)
    assert not nxt.done() and len(ctl._waiters[c.id]) == 2
    nxt.cancel()
    await asyncio.sleep(0)
    assert ctl._waiters[c.id] == [other]
    other.cancel()
    await asyncio.sleep(0)
    assert c.id not in ctl._waiters


@pytest.mark.parametrize("name", ["console", "exec_tty"])
def test_runtime_interface_declares_what_attach_uses(name):
    assert name in Runtime.__abstractmethods__


def test_an_exec_resize_before_its_terminal_exists_is_kept_for_it(tmp_path):
    from boxnet.core.execs import ExecInstance
    ctl = _controller(tmp_path)
    ex = ExecInstance(id="e" * 64, container_id="c" * 64, cmd=["sh"], tty=True)
    ctl.execs[ex.id] = ex
    ctl.resize_exec(ex.id, 0, 80)          # half a size: nothing to apply
    assert ex.console_size == []
    ctl.resize_exec(ex.id, 40, 120)
    assert ex.console_size == [40, 120]

    class Con:
        size = None

        def resize(self, h, w):
            self.size = (h, w)
    con = Con()
    ctl._exec_consoles[ex.id] = con        # as start_exec_tty keeps it while it runs
    ctl.resize_exec(ex.id, 50, 132)
    assert con.size == (50, 132) and ex.console_size == [40, 120]
    ctl.release_exec_console(ex.id)
    ctl.forget_execs(ex.container_id)
    assert ex.id not in ctl.execs and not ctl._exec_consoles


async def test_a_removal_waiter_gets_the_last_exit_code_at_removal(tmp_path):
    ctl = _controller(tmp_path)
    c = Container(id="d" * 64, name="r", created="", config=ContainerConfig(image="busybox"),
                  image_id="", status="exited", exit_code=3)
    ctl._index_container(c)
    fut, left = ctl.removed_future(c), ctl.removed_future(c)
    left.cancel()                         # a client that left
    await asyncio.sleep(0)
    assert not fut.done() and ctl._removal_waiters[c.id] == [fut]
    ctl._unindex_container(c)             # what remove_container does last
    assert await fut == 3 and c.id not in ctl._removal_waiters
    assert ctl.removed_future(c).result() == 3   # gone already: at once
