"""OciRuntime and ImageStore against the real runc, busybox and kernel.

Each test runs containers in a netns this module creates (bxt-rt-<rand>) and
deletes everything it made: containers (runc delete), overlay mounts, bundles,
the netns.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import uuid

import pytest

from boxnet.errors import InvalidParameter, NotFound
from boxnet.kernel.runc import is_mountpoint
from boxnet.runtime.api import ProcessSpec
from boxnet.runtime.images import ImageStore
from boxnet.runtime.oci import OciRuntime

pytestmark = pytest.mark.kernel

if os.geteuid() != 0 or not shutil.which("runc") or not os.path.exists("/bin/busybox"):
    pytest.skip("needs root, runc and busybox-static", allow_module_level=True)


@pytest.fixture(scope="module")
def root():
    d = tempfile.mkdtemp(prefix="bxt-rt-")
    yield d
    # Unmount everything under d first: never rmtree through a mount (the
    # host image's rootfs is a bind of "/").
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if line.split()[4].startswith(d + "/")]
    for m in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", m], check=True)
    assert not any(is_mountpoint(m) for m in mounts)
    shutil.rmtree(d)


@pytest.fixture(scope="module")
def images(root):
    store = ImageStore(root, allow_host_image=True)
    store.ensure_builtin()
    return store


@pytest.fixture(scope="module")
def netns():
    name = f"bxt-rt-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    yield f"/run/netns/{name}"
    subprocess.run(["ip", "netns", "delete", name], check=True)


@pytest.fixture
async def rt(root):
    runtime = OciRuntime(root)
    yield runtime
    for cid in list(os.listdir(runtime.bundles)):
        await runtime.delete(cid)
    assert os.listdir(runtime.bundles) == []


def exit_future():
    fut = asyncio.get_running_loop().create_future()
    return fut, (lambda code: fut.done() or fut.set_result(code))


def spec(images, netns, args, image="busybox", **kw) -> ProcessSpec:
    img = images.get(image)
    return ProcessSpec(container_id=f"c{uuid.uuid4().hex[:12]}", rootfs=img.rootfs, args=args,
                       env=list(img.config.Env), netns_path=netns,
                       readonly_rootfs=img.readonly, tmpfs=list(img.tmpfs), **kw)


async def test_logs_and_exit_code(images, netns, rt):
    s = spec(images, netns, ["sh", "-c", "echo hi; echo err >&2; exit 3"])
    await rt.create(s)
    fut, on_exit = exit_future()
    pid = await rt.start(s.container_id, on_exit)
    assert pid > 0
    assert await asyncio.wait_for(fut, 10) == 3
    out, err = rt.log_paths(s.container_id)
    assert open(out).read() == "hi\n"
    assert open(err).read() == "err\n"


async def test_kill_signals(images, netns, rt):
    # As in Docker: the init (pid 1 of its pid namespace) ignores signals it
    # has no handler for, so SIGTERM leaves `sleep` running; SIGKILL gives 137.
    s = spec(images, netns, ["sleep", "100"])
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    await rt.kill(s.container_id, signal.SIGTERM)
    await asyncio.sleep(0.2)
    assert not fut.done()
    await rt.kill(s.container_id, signal.SIGKILL)
    assert await asyncio.wait_for(fut, 10) == 137
    await rt.kill(s.container_id, signal.SIGKILL)  # gone: no error
    # An init with a SIGTERM handler stops on SIGTERM with Docker's 143.
    s = spec(images, netns, ["sh", "-c", "trap 'exit 143' TERM; sleep 100 & wait"])
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    await asyncio.sleep(0.1)
    await rt.kill(s.container_id, signal.SIGTERM)
    assert await asyncio.wait_for(fut, 10) == 143


async def test_exec_sees_own_netns_and_hostname(images, netns, rt):
    s = spec(images, netns, ["sleep", "100"], hostname="box1", domainname="example.org")
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    r = await rt.exec(s.container_id, ["hostname"], [], "/", False)
    assert (r.exit_code, r.stdout) == (0, b"box1\n")
    r = await rt.exec(s.container_id, ["ls", "/sys/class/net"], [], "/", False)
    assert r.stdout.split() == [b"lo"]
    r = await rt.exec(s.container_id, ["ip", "addr"], [], "/", False)
    assert r.exit_code == 0 and b"lo" in r.stdout
    r = await rt.exec(s.container_id, ["sh", "-c", "echo $FOO; pwd; echo e >&2; exit 4"],
                      ["FOO=bar"], "/tmp", False)
    assert (r.exit_code, r.stdout, r.stderr) == (4, b"bar\n/tmp\n", b"e\n")
    r = await rt.exec(s.container_id, ["cat"], [], "/", False, stdin=b"piped")
    assert r.stdout == b"piped"
    r = await rt.exec(s.container_id, ["no-such-program"], [], "/", False)
    assert r.exit_code == 127
    # Docker's default caps: no NET_ADMIN, but NET_RAW for ping (lo, up since the fixture).
    r = await rt.exec(s.container_id, ["ip", "link", "set", "lo", "down"], [], "/", False)
    assert r.exit_code != 0
    r = await rt.exec(s.container_id, ["ping", "-c1", "-W1", "127.0.0.1"], [], "/", False)
    assert r.exit_code == 0, r.stderr
    await rt.delete(s.container_id)
    assert await asyncio.wait_for(fut, 10) == 137  # delete --force killed it


async def test_writable_root_is_private(images, netns, rt):
    s = spec(images, netns, ["sh", "-c", "echo x > /bin/newfile; rm /etc/passwd"])
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    assert await asyncio.wait_for(fut, 10) == 0
    img = images.get("busybox")
    assert os.path.exists(os.path.join(img.rootfs, "etc/passwd"))
    assert not os.path.exists(os.path.join(img.rootfs, "bin/newfile"))


async def test_open_stdin_keeps_sh_alive(images, netns, rt):
    s = spec(images, netns, ["sh"], open_stdin=True, tty=True)
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    await asyncio.sleep(0.3)
    assert not fut.done(), "sh exited: stdin reached EOF"
    sess = await rt.console(s.container_id).attach(False)  # what attach does (via the shim)
    await sess.write(b"echo via-stdin; exit 7\n")
    sess.close()
    assert await asyncio.wait_for(fut, 10) == 7
    # tty=True: a real pty (echo on, CRLF line ends), as with Docker
    assert "\nvia-stdin\n" in open(rt.log_paths(s.container_id)[0]).read()


async def test_etc_files_and_binds(images, netns, rt, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.5 box1\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("from-host")
    s = spec(images, netns, ["sleep", "100"], etc_files={"/etc/hosts": str(hosts)},
             binds=[f"{data}:/data:ro", f"{tmp_path}/rw:/rw"])
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    r = await rt.exec(s.container_id, ["cat", "/etc/hosts", "/data/f"], [], "/", False)
    assert r.stdout == b"10.0.0.5 box1\nfrom-host"
    with open(hosts, "r+") as f:  # rewritten in place: visible inside
        f.truncate(0)
        f.write("10.0.0.6 box2\n")
    r = await rt.exec(s.container_id, ["cat", "/etc/hosts"], [], "/", False)
    assert r.stdout == b"10.0.0.6 box2\n"
    r = await rt.exec(s.container_id, ["sh", "-c", "touch /data/x"], [], "/", False)
    assert r.exit_code != 0
    r = await rt.exec(s.container_id, ["sh", "-c", "echo w > /rw/y"], [], "/", False)
    assert r.exit_code == 0 and (tmp_path / "rw" / "y").read_text() == "w\n"


async def test_bad_bind_and_missing_program(images, netns, rt):
    with pytest.raises(InvalidParameter):
        await rt.create(spec(images, netns, ["true"], binds=["vol:/x"]))
    s = spec(images, netns, ["/no/such/prog"])
    await rt.create(s)
    with pytest.raises(Exception) as ei:
        await rt.start(s.container_id, lambda c: None)
    assert "no/such/prog" in str(ei.value)
    assert open(rt.log_paths(s.container_id)[1]).read() == ""  # runc's error cut out


async def test_host_image_runs_python(images, netns, rt):
    s = spec(images, netns, ["/usr/bin/python3", "-c",
                             "import os; print(1); open('/tmp/t','w'); print(os.listdir('/sys/class/net'))"],
             image="boxnet/host")
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    assert await asyncio.wait_for(fut, 10) == 0, open(rt.log_paths(s.container_id)[1]).read()
    assert open(rt.log_paths(s.container_id)[0]).read() == "1\n['lo']\n"
    s = spec(images, netns, ["sh", "-c", "touch /usr/x"], image="boxnet/host")
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    assert await asyncio.wait_for(fut, 10) != 0  # root is read-only


async def test_host_network_mode(images, rt):
    s = spec(images, None, ["sh", "-c", "ls /sys/class/net"])
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    assert await asyncio.wait_for(fut, 10) == 0
    assert sorted(open(rt.log_paths(s.container_id)[0]).read().split()) == \
        sorted(name for _, name in socket.if_nameindex())  # this process's netns


async def test_adopt_after_restart(images, netns, root, rt):
    s = spec(images, netns, ["sleep", "100"])
    await rt.create(s)
    pid = await rt.start(s.container_id, lambda c: None)
    rt._watchers.pop(s.container_id).close()  # as if the daemon had restarted
    rt2 = OciRuntime(root)
    assert not await rt2.adopt(s.container_id, pid + 100000, lambda c: None)
    fut, on_exit = exit_future()
    assert await rt2.adopt(s.container_id, pid, on_exit)
    await rt2.kill(s.container_id, signal.SIGKILL)
    # still our child here (same process), so the real status is known
    assert await asyncio.wait_for(fut, 10) == 137
    assert not await rt2.adopt(s.container_id, pid, on_exit)


def test_image_refs(images):
    bb = images.get("busybox")
    assert images.get("busybox:latest") is bb
    assert images.get("docker.io/library/busybox") is bb
    assert images.get(bb.id) is bb and images.get(bb.id[7:19]) is bb
    assert bb.config.Cmd == ["sh"]
    assert os.path.islink(os.path.join(bb.rootfs, "bin/sh"))
    assert "nobody" in open(os.path.join(bb.rootfs, "etc/passwd")).read()
    with pytest.raises(NotFound, match="No such image: nope"):
        images.get("nope")
    assert images.get("boxnet/host").readonly
    assert {i.id for i in images.list()} >= {bb.id, images.get("boxnet/host").id}
    s, i = bb.summary(), bb.inspect()
    assert s["RepoTags"] == ["busybox:latest"] and isinstance(s["Created"], int)
    assert i["Config"]["Cmd"] == ["sh"] and i["Os"] == "linux"
    images.ensure_builtin()  # idempotent
    assert images.get("busybox") .id == bb.id


async def test_import_tar(images, netns, rt):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(images.get("busybox").rootfs, arcname=".")
    buf.seek(0)
    image_id = await asyncio.to_thread(images.import_tar, buf, "imported", "v1",
                                       ["CMD [\"echo\", \"imported-ok\"]", "ENV A=1"])
    img = images.get("imported:v1")
    assert img.id == image_id and image_id.startswith("sha256:")
    assert img.config.Cmd == ["echo", "imported-ok"] and img.config.Env == ["A=1"]
    s = spec(images, netns, img.config.Cmd, image="imported:v1")
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    assert await asyncio.wait_for(fut, 10) == 0
    assert open(rt.log_paths(s.container_id)[0]).read() == "imported-ok\n"
    images.remove("imported:v1")
    with pytest.raises(NotFound):
        images.get(image_id)


def test_import_tar_refuses_escapes(images, tmp_path):
    def tarball(*members):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for m, data in members:
                tar.addfile(m, io.BytesIO(data) if data is not None else None)
        buf.seek(0)
        return buf

    def member(name, data=b"", **kw):
        ti = tarfile.TarInfo(name)
        ti.size = len(data) if data is not None and not kw.get("type") else 0
        for k, v in kw.items():
            setattr(ti, k, v)
        return ti, data if not kw.get("type") else None

    victim = tmp_path / "victim"
    victim.mkdir()
    evil = [
        [member("../escape", b"x")],
        [member("link", type=tarfile.SYMTYPE, linkname=str(victim)), member("link/owned", b"x")],
        [member("hl", type=tarfile.LNKTYPE, linkname="../../etc/passwd")],
    ]
    for members in evil:
        with pytest.raises(InvalidParameter):
            images.import_tar(tarball(*members), None, None)
    assert os.listdir(victim) == []
    ok = tarball(member("dev", type=tarfile.DIRTYPE), member("dev/null", type=tarfile.CHRTYPE),
                 member("/abs/file", b"y"))
    img = images.get(images.import_tar(ok, None, None))
    assert open(os.path.join(img.rootfs, "abs/file")).read() == "y"
    assert not os.path.exists(os.path.join(img.rootfs, "dev/null"))
    images.remove(img.id)


async def test_restart_appends_logs_and_delete_is_idempotent(images, netns, rt):
    s = spec(images, netns, ["sh", "-c", "echo run"])
    await rt.create(s)
    for _ in range(2):  # a second start reuses the bundle (stale runc state is dropped)
        fut, on_exit = exit_future()
        await rt.start(s.container_id, on_exit)
        assert await asyncio.wait_for(fut, 10) == 0
    assert open(rt.log_paths(s.container_id)[0]).read() == "run\nrun\n"
    with pytest.raises(Exception, match="not running"):
        await rt.exec(s.container_id, ["true"], [], "/", False)
    await rt.delete(s.container_id)
    await rt.delete(s.container_id)
    assert not os.path.exists(os.path.dirname(rt.log_paths(s.container_id)[0]))


async def test_copy_fallback_when_overlay_fails(images, netns, rt, monkeypatch):
    def refuse(*a):
        raise OSError(22, "overlay refused")
    monkeypatch.setattr("boxnet.runtime.oci.mount_overlay", refuse)
    s = spec(images, netns, ["sh", "-c", "echo x > /etc/new && cat /etc/new"])
    await rt.create(s)
    fut, on_exit = exit_future()
    await rt.start(s.container_id, on_exit)
    assert await asyncio.wait_for(fut, 10) == 0
    assert open(rt.log_paths(s.container_id)[0]).read() == "x\n"
    assert not os.path.exists(os.path.join(images.get("busybox").rootfs, "etc/new"))


async def test_adopt_container_started_by_another_daemon(images, netns, root, rt):
    s = spec(images, netns, ["sleep", "100"])
    await rt.create(s)
    script = (
        "import asyncio, sys\n"
        "from boxnet.runtime.oci import OciRuntime\n"
        "async def main():\n"
        f"    print(await OciRuntime({root!r}).start({s.container_id!r}, lambda c: None))\n"
        "asyncio.run(main())\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    pid = int(out)
    fut, on_exit = exit_future()
    assert await rt.adopt(s.container_id, pid, on_exit)
    await rt.kill(s.container_id, signal.SIGKILL)
    # Started by another process (another daemon), the init is reaped by
    # boxnet-supervisor, which both share: its real status, never 255.
    assert await asyncio.wait_for(fut, 10) == 137


def test_exit_watcher_reports_255_for_a_non_child():
    script = (
        "import asyncio, os, subprocess\n"
        "from boxnet.kernel.process import ExitWatcher\n"
        "p = subprocess.Popen(['sh', '-c', 'sleep 0.3 & echo $!'], stdout=subprocess.PIPE)\n"
        "pid = int(p.stdout.readline()); p.wait()\n"
        "async def main():\n"
        "    fut = asyncio.get_running_loop().create_future()\n"
        "    ExitWatcher(pid, fut.set_result)\n"
        "    print(await asyncio.wait_for(fut, 5))\n"
        "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "255"
