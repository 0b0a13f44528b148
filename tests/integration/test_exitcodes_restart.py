"""Exit codes survive the daemon (issue 21 item 2): boxnet-supervisor, not
boxnetd, reaps the containers, so a container that exits while the daemon is
down, or after a restart re-adopted it, shows its real exit code and time in
`inspect` and `wait`; `on-failure:N` counts on across the restart; and a
`--rm` container that exited meanwhile is gone after the restart, its address
free again.  The daemon is killed with SIGKILL: nothing is handed over."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from integration.harness import BOXNET

pytestmark = pytest.mark.kernel


def _wait(pred, what: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


def _epoch(ts: str) -> float:
    """Seconds of an RFC 3339 UTC timestamp (to the second)."""
    return time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


def test_exit_while_daemon_down_keeps_its_code(make_host):
    h = make_host()
    h.cli("run", "-d", "--name", "ec-down", "busybox", "sh", "-c", "sleep 2; exit 7")
    pid = h.inspect("ec-down")["State"]["Pid"]
    h.kill9()
    killed = time.time()
    _wait(lambda: _gone(pid), "the container's exit while the daemon is down")
    time.sleep(0.5)
    restarted = time.time()
    h.start()
    st = h.inspect("ec-down")["State"]
    assert (st["Status"], st["Running"], st["ExitCode"]) == ("exited", False, 7), st
    # when it really ended, not when the daemon found out
    assert killed - 1 <= _epoch(st["FinishedAt"]) <= restarted, (st, killed, restarted)
    assert h.cli("wait", "ec-down").stdout.strip() == "7"
    h.cli("rm", "ec-down")


def test_exit_after_readoption_keeps_its_code(make_host):
    """Adopted by the new daemon (never its child), the exit is still the real one,
    and a `wait` begun before the exit receives it."""
    h = make_host()
    h.cli("run", "-d", "--name", "ec-adopt", "busybox", "sh", "-c",
          "trap 'exit 42' TERM; sleep 1000 & wait")
    h.kill9()
    h.start()
    assert h.inspect("ec-adopt")["State"]["Running"]
    waiter = run_bg(h, "wait", "ec-adopt")
    time.sleep(0.5)
    h.cli("kill", "-s", "TERM", "ec-adopt")
    out, _ = waiter.communicate(timeout=20)
    assert out.strip() == "42", out
    st = h.inspect("ec-adopt")["State"]
    assert (st["Running"], st["ExitCode"]) == (False, 42), st
    h.cli("rm", "ec-adopt")


def run_bg(h, *args: str) -> subprocess.Popen:
    """The boxnet CLI in the background (a Popen with stdout piped)."""
    return subprocess.Popen([BOXNET, "-H", h.host_uri, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_on_failure_counts_on_across_a_restart(make_host):
    """on-failure:3: one failure with the daemon up, one while it is down, the
    rest after it came back; three restarts in all, then it stays down."""
    h = make_host()
    h.cli("run", "-d", "--name", "ec-onf", "--restart", "on-failure:3",
          "busybox", "sh", "-c", "sleep 1.5; exit 5")

    def info():
        return h.inspect("ec-onf")
    def started_again(count: int) -> bool:
        i = info()   # one look: the pid is set a moment after the count
        return i["RestartCount"] == count and i["State"]["Running"] and i["State"]["Pid"] > 0
    _wait(lambda: started_again(1), "the first restart")
    pid = info()["State"]["Pid"]
    h.kill9()
    _wait(lambda: _gone(pid), "the second failure, while the daemon is down")
    h.start()
    i = info()
    assert i["RestartCount"] == 2 and i["State"]["Running"], (i["RestartCount"], i["State"])
    _wait(lambda: started_again(3), "the last restart", timeout=30)
    _wait(lambda: not info()["State"]["Running"], "the last failure")
    time.sleep(2.5)   # a fourth start would come within its back-off (0.8 s) + 1.5 s
    i = info()
    assert i["RestartCount"] == 3 and not i["State"]["Running"], (i["RestartCount"], i["State"])
    assert i["State"]["ExitCode"] == 5, i["State"]
    h.cli("rm", "ec-onf")


def test_auto_remove_of_a_container_that_exited_while_down(make_host):
    h = make_host()
    h.cli("network", "create", "--subnet", "10.231.0.0/24", "ec-net")
    h.cli("run", "-d", "--rm", "--name", "ec-rm", "--network", "ec-net", "--ip", "10.231.0.9",
          "busybox", "sh", "-c", "sleep 1.5; exit 3")
    h.cli("run", "-d", "--name", "ec-stay", "--network", "ec-net", "busybox", "sleep", "600")
    pid = h.inspect("ec-rm")["State"]["Pid"]
    links_before = set(h.link_names())
    h.kill9()
    _wait(lambda: _gone(pid), "the --rm container's exit while the daemon is down")
    h.start()
    status, _ = h.api("GET", "/containers/ec-rm/json")
    assert status == 404, "a --rm container that exited while the daemon was down is kept"
    assert "ec-rm" not in {c["Name"] for c in h.network("ec-net")["Containers"].values()}
    assert len(set(h.link_names())) == len(links_before) - 1, "its veth is left behind"
    # its address is free again: a new container may take it and be reached there
    h.cli("run", "-d", "--name", "ec-new", "--network", "ec-net", "--ip", "10.231.0.9",
          "busybox", "sleep", "600")
    r = h.exec("ec-stay", "ping", "-c1", "-W2", "10.231.0.9")
    assert r.returncode == 0, r.stdout + r.stderr
    h.cli("rm", "-f", "ec-new", "ec-stay")
    h.cli("network", "rm", "ec-net")


def test_supervisor_of_a_previous_daemon_in_another_mount_namespace(make_host):
    """A daemon in a private mount namespace (systemd's PrivateMounts=) dies; the
    next one, in a new private namespace, still has its containers run by the
    supervisor the first one started, inside its own mount namespace, where it
    mounted their roots (an empty root would not run `sh`), and their exit
    codes are real."""
    h = make_host(start=False)
    h.launcher = ["unshare", "--mount", "--propagation", "private"]
    h.start()
    h.cli("run", "-d", "--name", "ec-old", "busybox", "sleep", "600")
    sup = [ln for ln in h.log_tail(400).splitlines() if "boxnet-supervisor pid" in ln]
    h.kill9()
    h.start()
    r = h.cli("run", "--name", "ec-new", "busybox", "sh", "-c", "cat /etc/hostname; exit 6",
              check=False)
    assert r.returncode == 6, (r.returncode, r.stdout, r.stderr)
    assert h.inspect("ec-new")["State"]["ExitCode"] == 6
    assert sup and sup[-1].split()[-1] == [ln for ln in h.log_tail(400).splitlines()
                                           if "boxnet-supervisor pid" in ln][-1].split()[-1], \
        "the new daemon started another supervisor"
    h.cli("kill", "ec-old")
    end = time.monotonic() + 10
    while h.inspect("ec-old")["State"]["Running"] and time.monotonic() < end:
        time.sleep(0.1)
    assert h.inspect("ec-old")["State"]["ExitCode"] == 137
    h.cli("rm", "ec-old", "ec-new")


def _supervisor_pid(h) -> int:
    lines = [ln for ln in h.log_tail(2000).splitlines() if "boxnet-supervisor pid" in ln]
    assert lines, "no supervisor started"
    return int(lines[-1].split()[-1])


def test_a_killed_supervisor_is_replaced(make_host):
    """SIGKILL of the supervisor (ours: the test's daemon started it) loses no
    running container: its init falls to the daemon, the nearest subreaper, which
    reaps it with its code; the next start brings a new supervisor."""
    h = make_host()
    h.cli("run", "-d", "--name", "ec-orph", "busybox", "sh", "-c",
          "trap 'exit 11' TERM; sleep 1000 & wait")
    old = _supervisor_pid(h)
    os.kill(old, 9)
    _wait(lambda: _gone(old), "the supervisor's end")
    assert h.inspect("ec-orph")["State"]["Running"]
    r = h.cli("run", "--name", "ec-after", "busybox", "sh", "-c", "exit 4", check=False)
    assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
    assert _supervisor_pid(h) != old
    h.cli("kill", "-s", "TERM", "ec-orph")
    assert h.cli("wait", "ec-orph").stdout.strip() == "11"
    h.cli("rm", "ec-orph", "ec-after")
