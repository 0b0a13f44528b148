"""Restart policies on the real kernel, as Docker documents them: `on-failure:N`
retries a failing container N times; when the daemon comes back after a crash in
which the containers died too (a host reboot, say), `always` and `unless-stopped`
containers are started again (unless-stopped only if the user had not stopped it),
`on-failure` ones too since they did not exit by themselves, and `no` ones stay
down.  The restarted containers are back on their networks with their addresses and
reach each other by name."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytestmark = pytest.mark.kernel


def _state(h, name: str) -> dict:
    return h.inspect(name)["State"]


def _wait(pred, what: str, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_on_failure_retries_then_gives_up(make_host):
    h = make_host()
    h.cli("run", "-d", "--name", "rp-fail", "--restart", "on-failure:2",
          "busybox", "sh", "-c", "exit 3")
    _wait(lambda: h.inspect("rp-fail")["RestartCount"] == 2
          and not _state(h, "rp-fail")["Running"], "two restarts")
    time.sleep(1.5)  # a third restart would come within the back-off (0.4 s)
    info = h.inspect("rp-fail")
    assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 3, info["State"]
    assert info["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                   "MaximumRetryCount": 2}
    h.cli("rm", "-f", "rp-fail")


def test_policies_after_daemon_and_containers_died(make_host):
    h = make_host()
    h.cli("network", "create", "rp-net")
    specs = {"rp-always": "always", "rp-unless": "unless-stopped",
             "rp-stopped": "unless-stopped", "rp-onfail": "on-failure", "rp-no": "no"}
    for name, pol in specs.items():
        h.cli("run", "-d", "--name", name, "--network", "rp-net", "--restart", pol,
              "busybox", "sleep", "3600")
    h.cli("stop", "-t", "1", "rp-stopped")
    addrs = {n: h.ip_of(n, "rp-net") for n in ("rp-always", "rp-unless", "rp-onfail")}
    pids = [_state(h, n)["Pid"] for n in specs if n != "rp-stopped"]
    h.kill9()
    for pid in pids:  # the containers die with the daemon, as in a reboot
        os.kill(pid, signal.SIGKILL)
    _wait(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), "containers gone")
    h.start()
    running = {n: _state(h, n)["Running"] for n in specs}
    assert running == {"rp-always": True, "rp-unless": True, "rp-stopped": False,
                       "rp-onfail": True, "rp-no": False}, running
    assert {n: h.ip_of(n, "rp-net") for n in addrs} == addrs
    for src, dst in (("rp-always", "rp-unless"), ("rp-onfail", "rp-always")):
        r = h.exec(src, "ping", "-c1", "-W2", dst)
        assert r.returncode == 0, (src, dst, r.stdout, r.stderr)
    # killed with SIGKILL while no daemon ran: the supervisor's record says so
    assert _state(h, "rp-no")["ExitCode"] == 137
    h.cli("rm", "-f", *specs)
    h.cli("network", "rm", "rp-net")


def test_restarted_container_keeps_its_address(make_host):
    """A stopped container asks for its last addresses again at start (v4 and v6),
    even when a lower address was freed meanwhile; if its address was taken in the
    meantime it gets another one, and the name follows the address at once."""
    h = make_host()
    h.cli("network", "create", "--ipv6", "--subnet", "fd00:77::/64", "--subnet",
          "10.77.0.0/24", "rk-net")
    for n in ("rk-a", "rk-b", "rk-c"):
        h.cli("run", "-d", "--name", n, "--network", "rk-net", "busybox", "sleep", "3600")
    b4, b6 = h.ip_of("rk-b", "rk-net"), h.ip_of("rk-b", "rk-net", v6=True)
    a4 = h.ip_of("rk-a", "rk-net")
    h.cli("stop", "-t", "1", "rk-b")
    h.cli("stop", "-t", "1", "rk-a")          # frees the lower address
    h.cli("start", "rk-b")
    assert (h.ip_of("rk-b", "rk-net"), h.ip_of("rk-b", "rk-net", v6=True)) == (b4, b6)
    h.cli("run", "-d", "--name", "rk-d", "--network", "rk-net", "--ip", a4,
          "busybox", "sleep", "3600")         # takes rk-a's address while it is down
    h.cli("start", "rk-a")
    a4_new = h.ip_of("rk-a", "rk-net")
    assert a4_new not in (a4, b4), a4_new
    out = h.exec("rk-c", "nslookup", "rk-a", check=True).stdout
    assert a4_new in out and a4 not in out.split("rk-a", 1)[1], out
    h.cli("rm", "-f", "rk-a", "rk-b", "rk-c", "rk-d")
    h.cli("network", "rm", "rk-net")
