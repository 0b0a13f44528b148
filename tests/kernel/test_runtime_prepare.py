"""OciRuntime's two-step start against the real runc (runtime/ociprep.py):
`prepare` (runc create) leaves the init waiting, the container's program has
not run; `start` runs it; `abort` kills the waiting init and drops runc's
state; a program that cannot run fails at prepare with runc's message."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from boxnet.errors import KernelError
from boxnet.kernel.runc import is_mountpoint
from boxnet.runtime.api import ProcessSpec
from boxnet.runtime.images import ImageStore
from boxnet.runtime.oci import OciRuntime

pytestmark = pytest.mark.kernel

if os.geteuid() != 0 or not shutil.which("runc") or not os.path.exists("/bin/busybox"):
    pytest.skip("needs root, runc and busybox-static", allow_module_level=True)


@pytest.fixture(scope="module")
def root():
    d = tempfile.mkdtemp(prefix="bxt-rp-")
    yield d
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if line.split()[4].startswith(d + "/")]
    for m in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", m], check=True)
    assert not any(is_mountpoint(m) for m in mounts)

    def gone(func, path, exc_info):   # the idle supervisor removes its socket meanwhile
        if not issubclass(exc_info[0], FileNotFoundError):
            raise exc_info[1]
    shutil.rmtree(d, onerror=gone)


@pytest.fixture(scope="module")
def images(root):
    store = ImageStore(root, allow_host_image=False)
    store.ensure_builtin()
    return store


@pytest.fixture(scope="module")
def netns():
    name = f"bxt-rp-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield f"/run/netns/{name}"
    subprocess.run(["ip", "netns", "delete", name], check=True)


@pytest.fixture
async def rt(root):
    runtime = OciRuntime(root)
    yield runtime
    for cid in list(os.listdir(runtime.bundles)):
        await runtime.delete(cid)
    assert os.listdir(runtime.bundles) == []
    await runtime.close()


def spec(images, netns, args, **kw) -> ProcessSpec:
    img = images.get("busybox")
    return ProcessSpec(container_id=f"c{uuid.uuid4().hex[:12]}", rootfs=img.rootfs, args=args,
                       env=list(img.config.Env), netns_path=netns, **kw)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _until(pred, timeout: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_prepare_waits_then_start_runs_the_program(images, netns, rt):
    s = spec(images, netns, ["sh", "-c", "echo ran; exit 5"])
    await rt.create(s)
    assert await rt.prepare(s.container_id) is True
    pid = rt._prepared[s.container_id].pid
    assert _alive(pid)
    await asyncio.sleep(0.2)   # set up, not started: the program has printed nothing
    out = rt.log_paths(s.container_id)[0]
    assert open(out).read() == ""
    fut = asyncio.get_running_loop().create_future()
    assert await rt.start(s.container_id, lambda code: fut.done() or fut.set_result(code)) == pid
    assert await asyncio.wait_for(fut, 10) == 5
    assert open(out).read() == "ran\n"


async def test_abort_kills_the_waiting_init_and_keeps_the_bundle(images, netns, rt):
    s = spec(images, netns, ["sh", "-c", "echo never"])
    await rt.create(s)
    await rt.prepare(s.container_id)
    pid = rt._prepared[s.container_id].pid
    await rt.abort(s.container_id)
    assert await _until(lambda: not _alive(pid))
    assert rt.runc.init_process(s.container_id) is None   # no runc state left
    assert os.path.exists(os.path.join(rt.bundles, s.container_id, "config.json"))
    assert open(rt.log_paths(s.container_id)[0]).read() == ""
    await rt.abort(s.container_id)   # nothing prepared: nothing done
    # the same bundle starts afterwards (one step: runc run -d)
    fut = asyncio.get_running_loop().create_future()
    await rt.start(s.container_id, lambda code: fut.done() or fut.set_result(code))
    assert await asyncio.wait_for(fut, 10) == 0
    assert open(rt.log_paths(s.container_id)[0]).read() == "never\n"


async def test_a_missing_program_fails_at_prepare(images, netns, rt):
    s = spec(images, netns, ["no-such-program"])
    await rt.create(s)
    with pytest.raises(KernelError) as err:
        await rt.prepare(s.container_id)
    assert "no-such-program" in err.value.message
    assert s.container_id not in rt._prepared
    assert rt.runc.init_process(s.container_id) is None
    assert open(rt.log_paths(s.container_id)[1]).read() == ""   # runc's line cut back out


async def test_delete_of_a_prepared_container(images, netns, rt):
    s = spec(images, netns, ["sleep", "100"], open_stdin=True)
    await rt.create(s)
    await rt.prepare(s.container_id)
    pid = rt._prepared[s.container_id].pid
    await rt.delete(s.container_id)
    assert s.container_id not in rt._prepared
    assert await _until(lambda: not _alive(pid))
    assert not os.path.exists(os.path.join(rt.bundles, s.container_id))


async def test_a_tty_container_is_not_prepared(images, netns, rt):
    s = spec(images, netns, ["sh"], tty=True, open_stdin=True)
    await rt.create(s)
    assert await rt.prepare(s.container_id) is False
    assert rt.runc.init_process(s.container_id) is None


async def test_runc_sees_it_running_after_start(images, netns, rt):
    # the start without runc (kernel/runc.py) leaves runc's own view right
    s = spec(images, netns, ["sleep", "100"])
    await rt.create(s)
    await rt.prepare(s.container_id)
    assert (await rt.runc.state(s.container_id))["status"] == "created"
    fut = asyncio.get_running_loop().create_future()
    await rt.start(s.container_id, lambda code: fut.done() or fut.set_result(code))
    assert (await rt.runc.state(s.container_id))["status"] == "running"
    r = await rt.exec(s.container_id, ["cat", "/proc/1/cmdline"], [], "/", False)
    assert r.stdout == b"sleep\x00100\x00"
    await rt.delete(s.container_id)
    assert await asyncio.wait_for(fut, 10) == 137


async def test_start_of_a_prepared_init_that_died_is_an_error(images, netns, rt):
    s = spec(images, netns, ["sh", "-c", "echo never"])
    await rt.create(s)
    await rt.prepare(s.container_id)
    pid = rt._prepared[s.container_id].pid
    os.kill(pid, 9)
    with pytest.raises(KernelError) as err:
        await asyncio.wait_for(rt.start(s.container_id, lambda code: None), 10)
    assert "already dead" in err.value.message
    assert s.container_id not in rt._prepared            # aborted: nothing held
    assert rt.runc.init_process(s.container_id) is None
    assert open(rt.log_paths(s.container_id)[0]).read() == ""


async def test_discard_kills_what_a_crashed_start_left(images, netns, root, rt):
    # a daemon died with this init waiting; the next one (a new OciRuntime,
    # nothing prepared in its memory) kills it and drops runc's state
    s = spec(images, netns, ["sleep", "100"])
    await rt.create(s)
    await rt.prepare(s.container_id)
    pid = rt._prepared[s.container_id].pid
    rt.drop_prepared(s.container_id)   # what the crash forgot
    after = OciRuntime(root)
    await after.discard(s.container_id)
    assert await _until(lambda: not _alive(pid))
    assert after.runc.init_process(s.container_id) is None
    assert os.path.exists(os.path.join(after.bundles, s.container_id, "config.json"))
    await after.discard(s.container_id)   # nothing left: nothing done
    await after.close()
