"""boxnet-supervisor (kernel/supervisor.py) on its own, through its socket, as
the daemon's client (kernel/supervise.py) speaks to it: it is the subreaper of
what the programs it runs leave behind (a `runc run -d` leaves the init), writes
each one's exit record atomically, answers waits before and after the exit,
outlives its client, refuses peers of another user, and leaves when idle.

The program run here stands in for `runc run -d`: a shell that starts a child
in the background, writes its pid to the pid file and exits, as runc does.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from boxnet.kernel.supervise import SupervisorClient

pytestmark = pytest.mark.kernel

if os.geteuid() != 0:
    pytest.skip("needs root (the supervisor checks its peers' uid; setpriv)",
                allow_module_level=True)


@pytest.fixture
def root():
    d = tempfile.mkdtemp(prefix="bxt-sup-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# What `runc run -d` does: fork the init, write its pid, exit without waiting for
# it (so the init's exit goes to the supervisor, the subreaper).  Not a shell's
# `(script) & echo $!`: dash reaps a background job that ended before the shell
# exits, and the supervisor would never see that init's status.
_FORK_INIT = ("import os, sys\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    os.execv('/bin/sh', ['sh', '-c', sys.argv[2]])\n"
              "with open(sys.argv[1], 'w') as f:\n"
              "    f.write(str(pid))\n"
              "os._exit(0)\n")


def _fake_runc(d: str, script: str) -> tuple[list[str], str]:
    pid_file = os.path.join(d, "init.pid")
    return [sys.executable, "-S", "-c", _FORK_INIT, pid_file, script], pid_file


def _alive(pid: int) -> bool:
    """Running (a zombie is not: it may be ours to reap, when another test of the
    session made this process a subreaper and the orphan fell to it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            zombie = f.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False
    if zombie:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    return not zombie


def _wait_gone(pid: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.02)
    assert not _alive(pid), f"pid {pid} still there"


async def _run(client: SupervisorClient, d: str, cid: str, script: str):
    argv, pid_file = _fake_runc(d, script)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        # run() prefixes nsenter --mount=/proc/self/fd/3 (our own mount ns here)
        return await client.run(cid, argv, (null, null, null), pid_file,
                                os.path.join(d, f"{cid}.exit.json"))
    finally:
        os.close(null)


def test_records_the_exit_of_what_runc_leaves_behind(root):
    async def main():
        c = SupervisorClient(root)
        pid, pidfd = await _run(c, root, "c1", "sleep 0.3; exit 7")
        assert pidfd is not None
        os.close(pidfd)
        early = await c.wait_exit("c1", os.path.join(root, "c1.exit.json"))   # before the exit
        assert early["code"] == 7 and early["pid"] == pid
        with open(os.path.join(root, "c1.exit.json")) as f:
            on_disk = json.load(f)
        assert on_disk == early and on_disk["finished_at"].endswith("Z")
        assert not os.path.exists(os.path.join(root, "c1.exit.json.tmp"))
        late = await c.wait_exit("c1", os.path.join(root, "c1.exit.json"))   # after it
        assert late == early
        # a killed one: 128 + signal
        pid, pidfd = await _run(c, root, "c2", "sleep 100")
        os.close(pidfd)
        os.kill(pid, 9)
        assert (await c.wait_exit("c2", os.path.join(root, "c2.exit.json")))["code"] == 137
        # never run here, no record: unknown
        assert await c.wait_exit("nope", os.path.join(root, "nope.exit.json")) is None
        c.close()
    asyncio.run(main())


def test_outlives_its_client_and_leaves_when_idle(root):
    """The client (a daemon) goes; the supervisor stays while a child runs,
    records its exit for the next client, then leaves and removes its socket."""
    argv, pid_file = _fake_runc(root, "sleep 1; exit 9")
    script = (
        "import asyncio, json, os, sys\n"
        "from boxnet.kernel.supervise import SupervisorClient\n"
        "async def main():\n"
        "    c = SupervisorClient(sys.argv[1])\n"
        "    n = os.open(os.devnull, os.O_RDWR)\n"
        "    pid, fd = await c.run('c3', json.loads(sys.argv[2]), (n, n, n), sys.argv[3],\n"
        "                          os.path.join(sys.argv[1], 'c3.exit.json'))\n"
        "    print(pid, c.pid, flush=True)\n"
        "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", script, root, json.dumps(argv), pid_file],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    pid, sup = map(int, out.stdout.split())
    assert _alive(sup), "the supervisor left with its client"
    _wait_gone(pid)
    _wait_gone(sup)   # nothing to do, nobody connected: it leaves
    assert not os.path.exists(os.path.join(root, "supervisor.sock"))
    with open(os.path.join(root, "c3.exit.json")) as f:
        assert json.load(f)["code"] == 9


def test_refuses_a_peer_of_another_user(root):
    async def main():
        c = SupervisorClient(root)
        await c.ensure()
        os.chmod(root, 0o711)     # even with a lax socket mode in a reachable dir
        os.chmod(c.path, 0o666)
        probe = ("import socket, sys\n"
                 "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
                 "s.connect(sys.argv[1])\n"
                 "try:\n"
                 "    s.send(b'{\"op\": \"hello\", \"proto\": 1}')\n"
                 "    print(repr(s.recv(100)))\n"
                 "except OSError as e:\n"
                 "    print('refused', e.errno)\n")
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            sys.executable, "-c", probe, c.path],
                           capture_output=True, text=True, timeout=20)
        assert r.stdout.startswith(("refused", "b''")), (r.stdout, r.stderr)
        c.close()
    asyncio.run(main())


def test_a_bad_request_is_refused_and_changes_nothing(root):
    async def main():
        c = SupervisorClient(root)
        await c.ensure()
        for bad in ({"op": "run"}, {"op": "wait"}, {"op": "run", "id": 1, "exit_path": "x",
                                                    "pid_file": "p", "argv": []},
                    {"op": "nope"}, ["op"]):
            s = await c._connect()
            try:
                reply, _ = await c._exchange(s, bad)
            finally:
                s.close()
            assert reply["ok"] is False and "bad request" in reply["error"], (bad, reply)
        s = await c._connect()   # not even JSON
        try:
            s.send(b"\xff{")
            await asyncio.sleep(0.2)
        finally:
            s.close()
        pid, pidfd = await _run(c, root, "c9", "exit 3")   # still serving
        if pidfd is not None:
            os.close(pidfd)
        assert (await c.wait_exit("c9", os.path.join(root, "c9.exit.json")))["code"] == 3
        c.close()
    asyncio.run(main())


def test_an_init_reaped_by_its_launcher_does_not_hang_the_wait(root):
    """A launcher that waits for its own child (unlike runc) takes the init's status:
    the supervisor records the exit as unknown (255) instead of waiting for ever."""
    async def main():
        c = SupervisorClient(root)
        pid_file = os.path.join(root, "init.pid")
        argv = ["/bin/sh", "-c", f"(exit 3) & echo $! > {pid_file}; wait"]
        null = os.open(os.devnull, os.O_RDWR)
        try:
            pid, pidfd = await c.run("c8", argv, (null, null, null), pid_file,
                                     os.path.join(root, "c8.exit.json"))
        finally:
            os.close(null)
        if pidfd is not None:
            os.close(pidfd)
        rec = await asyncio.wait_for(c.wait_exit("c8", os.path.join(root, "c8.exit.json")), 10)
        assert rec["code"] == 255 and rec["pid"] == pid, rec
        c.close()
    asyncio.run(main())


class _Exits:
    """OciRuntime's exit side (runtime/ociexit.py) over a real supervisor, with
    bundles under `root`: what the daemon's reconcile calls."""

    def __init__(self, root: str):
        from boxnet.runtime.ociexit import ExitOps
        self.supervisor = SupervisorClient(root)
        self.root = root
        self.last_exit = ExitOps.last_exit.__get__(self)

    def _bundle(self, cid: str) -> str:
        return os.path.join(self.root, cid)


def test_reconcile_gets_the_code_of_an_init_not_yet_recorded(root, monkeypatch):
    """The window of test_restart_chaos: an init the supervisor reaps is gone
    from /proc (so the restarted daemon does not adopt it) before its record is
    on disk.  last_exit then asks the supervisor, which answers after the
    record: the real code, never 255.  An unknown container answers None at
    once, and a live init the daemon did not adopt does not hold it for ever."""
    import boxnet.runtime.ociexit as ociexit

    async def main():
        ex = _Exits(root)
        for cid in ("c1", "c2"):
            os.makedirs(os.path.join(root, cid))
        argv, pid_file = _fake_runc(root, "sleep 0.4; exit 5")
        null = os.open(os.devnull, os.O_RDWR)
        try:
            pid, pidfd = await ex.supervisor.run("c1", argv, (null, null, null), pid_file,
                                                 os.path.join(root, "c1", "exit.json"))
            os.close(pidfd)
            assert not os.path.exists(os.path.join(root, "c1", "exit.json"))
            rec = await ex.last_exit("c1", pid)          # before the exit: waits for it
            assert rec is not None and rec.exit_code == 5, rec
            assert (await ex.last_exit("c1", pid + 1)) is None   # a record of another run
            t0 = time.monotonic()
            assert (await ex.last_exit("c2", 0)) is None  # nobody knows it
            assert time.monotonic() - t0 < 1
            argv, pid_file = _fake_runc(root, "sleep 100")
            pid, pidfd = await ex.supervisor.run("c2", argv, (null, null, null), pid_file,
                                                 os.path.join(root, "c2", "exit.json"))
            os.close(pidfd)
            monkeypatch.setattr(ociexit, "EXIT_RECORD_WAIT", 0.3)
            assert (await ex.last_exit("c2", pid)) is None   # alive: bounded wait
            os.kill(pid, 9)
            rec = await ex.last_exit("c2", pid)
            assert rec is not None and rec.exit_code == 137
        finally:
            os.close(null)
            ex.supervisor.close()
    asyncio.run(main())
