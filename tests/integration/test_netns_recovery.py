"""Network namespaces recovered from the living process, and PID reuse made safe
(issue 21 items 1 and 4).

The daemon runs in its own private mount namespace (`unshare --mount
--propagation private`, as under systemd's PrivateMounts=): its netns pins
live only there and vanish when it is SIGKILLed, while the containers'
processes, and so their namespaces, live on.  After the restart each
container keeps running with its endpoints, DNS and published port, and its
netns is pinned again at the same path, the same namespace (inode) its
process is in.  A recorded PID that now belongs to another process is never
adopted, signalled or re-pinned.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from contextlib import closing

import pytest

from integration import cleanup, harness
from integration.checks import veth_consistency
from integration.lan import Lan
from integration.netprobe import ping, probe, server_cmd, wait_ready
from integration.outside import Outside
from integration.privmount import PrivateMountHost, netns_inode

pytestmark = pytest.mark.kernel
PORT = 7000


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a living (non-zombie) process."""
    return cleanup.pid_alive(pid)


def nslookup(h, container: str, name: str) -> list[str]:
    """Addresses busybox nslookup in `container` gets for `name` ([] on failure)."""
    r = h.exec(container, "nslookup", name, timeout=20)
    addrs, seen = [], False
    for line in r.stdout.splitlines():
        if line.startswith("Name:"):
            seen = True
        elif seen and line.startswith("Address"):
            addrs.append(line.split()[-1])
    return addrs if r.returncode == 0 else []


def edit_record(h, cid: str, **fields) -> None:
    """Change fields of a container's row in the store (the daemon must be down)."""
    assert not h.running()
    with closing(sqlite3.connect(h.data_root / "boxnet.db")) as db:
        (data,) = db.execute("SELECT data FROM containers WHERE id = ?", (cid,)).fetchone()
        rec = json.loads(data)
        rec.update(fields)
        db.execute("UPDATE containers SET data = ? WHERE id = ?", (json.dumps(rec).encode(), cid))
        db.commit()


def record(h, cid: str) -> dict:
    """A container's row in the store, opened read-only."""
    with closing(sqlite3.connect(f"file:{h.data_root / 'boxnet.db'}?mode=ro", uri=True)) as db:
        (data,) = db.execute("SELECT data FROM containers WHERE id = ?", (cid,)).fetchone()
    return json.loads(data)


def runc_state_path(h, cid: str):
    """runc's state.json of a container."""
    return h.data_root / "runtime" / "runc" / cid / "state.json"


def wait_gone(pid: int, timeout: float = 20) -> None:
    """Wait until `pid` has exited."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.05)


@pytest.fixture
def phost():
    """A started PrivateMountHost, torn down (and checked clean) after the test."""
    if not shutil.which("unshare"):
        pytest.skip("needs util-linux unshare")
    h = PrivateMountHost()
    try:
        h.start()
        yield h
    finally:
        problems = h.teardown()
        assert not problems, problems


def test_pins_lost_with_the_mount_namespace_are_pinned_again(phost):
    """SIGKILL of a daemon in a private mount namespace: its pins vanish; after the
    restart nothing was stopped, every sandbox is pinned again (same inode as its
    process's netns), and endpoints, DNS, published port and connect all work."""
    h = phost
    out = Outside(h)
    h.cli("network", "create", "--subnet", "10.231.0.0/24", "rec")
    h.cli("network", "create", "--subnet", "10.232.0.0/24", "rec2")
    h.cli("run", "-d", "--name", "web", "--network", "rec", "-p", f"8080:{PORT}",
          "boxnet/host", *server_cmd(PORT))
    h.cli("run", "-d", "--name", "cli", "--network", "rec", "busybox", "sleep", "3600")
    h.cli("run", "-d", "--name", "side", "--network", "container:web", "busybox", "sleep", "3600")
    wait_ready(h, "web", PORT)
    names = ("web", "cli", "side")
    pids = {n: h.inspect(n)["State"]["Pid"] for n in names}
    keys = {n: h.inspect(n)["NetworkSettings"]["SandboxKey"] for n in ("web", "cli")}
    before = h.pins()
    assert {before.get(keys[n]) for n in keys} == {netns_inode(pids["web"]),
                                                   netns_inode(pids["cli"])}
    assert not cleanup.nsfs_mounts_under(h.exec_root), \
        "pins visible outside the daemon's mount namespace: the test proves nothing"

    h.kill9()
    h.start(*h.daemon_args)

    log = h.log_tail(400)
    assert "lost its netns" not in log, log
    assert "pinned again" in log, "the pins did not vanish with the mount namespace"
    for n in names:
        st = h.inspect(n)["State"]
        assert st["Running"] and st["Pid"] == pids[n], f"{n} was stopped or restarted: {st}"
    after = h.pins()
    for n, key in keys.items():
        assert after.get(key) == netns_inode(pids[n]), f"{n}: {key} not the netns of its process"
    web_ip, cli_ip = h.ip_of("web", "rec"), h.ip_of("cli", "rec")
    assert nslookup(h, "cli", "web") == [web_ip], "DNS from cli after the recovery"
    assert nslookup(h, "side", "cli") == [cli_ip], "DNS in the shared netns after the recovery"
    assert ping(f"/proc/{pids['cli']}/ns/net", web_ip, tries=3)
    assert probe(out.netns, "tcp", out.host_ip, 8080) == out.ip, "published port after the recovery"
    # the re-pinned sandbox takes new endpoints and gives them back
    h.cli("network", "connect", "rec2", "cli")
    assert ping(f"/proc/{pids['cli']}/ns/net", h.network("rec2")["IPAM"]["Config"][0]["Gateway"],
                tries=3)
    veth_consistency(h, ["web", "cli"])
    h.cli("network", "disconnect", "rec2", "cli")
    veth_consistency(h, ["web", "cli"])
    # and a second death in a row is recovered as well
    h.kill9()
    h.start(*h.daemon_args)
    assert all(h.inspect(n)["State"]["Pid"] == pids[n] for n in names)
    assert nslookup(h, "cli", "web") == [web_ip]
    h.cli("rm", "-f", "side", "cli", "web")
    assert not h.pins(), "pins left after rm"
    veth_consistency(h, [])


def test_owner_gone_sharer_alive(phost):
    """The owner of a shared netns exits while the daemon is down, its sharer does
    not: after the restart the owner is exited and its endpoints deleted (no veth
    left in the host, no veth or macvlan link left in the namespace the sharer still
    lives in: the namespace is pinned from the sharer for the owner's teardown), the
    sharer runs on, and no pin is left."""
    h = phost
    lan = Lan(h.name, router_addrs=("198.19.110.1/24",), host_addrs=("198.19.110.10/24",))
    try:
        _owner_gone_sharer_alive(h)
    finally:
        lan.teardown()


def _owner_gone_sharer_alive(h) -> None:
    h.cli("network", "create", "--subnet", "10.233.0.0/24", "rec")
    h.cli("network", "create", "-d", "macvlan", "--subnet", "198.19.110.0/24",
          "--gateway", "198.19.110.1", "-o", "parent=eth1", "reclan")
    # the owner ends when told to (a file in its root), not on a timer
    h.cli("run", "-d", "--name", "owner", "--network", "rec", "busybox",
          "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done")
    h.cli("network", "connect", "reclan", "owner")
    h.cli("run", "-d", "--name", "sharer", "--network", "container:owner",
          "busybox", "sleep", "3600")
    owner_pid = h.inspect("owner")["State"]["Pid"]
    sharer_pid = h.inspect("sharer")["State"]["Pid"]
    assert netns_inode(owner_pid) == netns_inode(sharer_pid)
    h.kill9()
    open(f"/proc/{owner_pid}/root/tmp/go", "w").close()
    wait_gone(owner_pid)
    h.start(*h.daemon_args)

    assert h.inspect("owner")["State"]["Status"] == "exited"
    st = h.inspect("sharer")["State"]
    assert st["Running"] and st["Pid"] == sharer_pid
    assert h.network("rec")["Containers"] == {} and h.network("reclan")["Containers"] == {}
    ifaces = json.loads(harness.run(["nsenter", f"--net=/proc/{sharer_pid}/ns/net",
                                     "ip", "-j", "link", "show"]).stdout)
    assert [i["ifname"] for i in ifaces] == ["lo"], f"owner's endpoint left: {ifaces}"
    cleanup.wait_dying_gone(h.links)
    veths = [link["ifname"] for link in h.links()
             if (link.get("linkinfo") or {}).get("info_kind") == "veth"]
    assert veths == ["eth1"], f"the owner's host veth was left: {veths}"   # eth1: the LAN's
    assert not h.pins(), "the owner's pin was left"
    h.cli("rm", "-f", "sharer", "owner")


def test_recycled_pid_is_not_adopted_killed_or_repinned(phost):
    """A container dies while the daemon is down and its PID goes to another process
    (a `sleep` this test owns, in a netns of its own): the restarted daemon marks the
    container exited, and neither signals the sleep, nor pins its netns, nor kills
    it at `rm -f`."""
    h = phost
    h.cli("network", "create", "--subnet", "10.234.0.0/24", "rec")
    h.cli("run", "-d", "--name", "gone", "--network", "rec", "busybox",
          "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done")
    info = h.inspect("gone")
    cid, pid, key = info["Id"], info["State"]["Pid"], info["NetworkSettings"]["SandboxKey"]
    rec = record(h, cid)
    assert rec["pid"] == pid and rec["pid_start"] > 0 and rec["boot_id"], rec
    assert rec["netns_ino"] == netns_inode(pid), rec
    h.kill9()
    open(f"/proc/{pid}/root/tmp/go", "w").close()
    wait_gone(pid)

    other_ns = harness.new_netns()
    sleeper = subprocess.Popen(["nsenter", f"--net=/run/netns/{other_ns}", "sleep", "600"],
                               stdin=subprocess.DEVNULL, start_new_session=True)
    harness.STARTED_PIDS.add(sleeper.pid)
    try:
        time.sleep(0.2)   # nsenter has exec'd sleep
        # The recycled PID: both records name the sleep's PID with the old start time.
        edit_record(h, cid, pid=sleeper.pid)
        state = json.loads(runc_state_path(h, cid).read_text())
        state["init_process_pid"] = sleeper.pid
        runc_state_path(h, cid).write_text(json.dumps(state))
        h.start(*h.daemon_args)

        st = h.inspect("gone")["State"]
        assert st["Status"] == "exited" and not st["Running"], st
        assert sleeper.poll() is None, "the sleep that took the recycled PID was killed"
        assert "not adopted" in h.log_tail(400)
        assert key not in h.pins(), "the recycled PID's netns was pinned"
        assert netns_inode(sleeper.pid) not in h.pins().values()
        assert h.network("rec")["Containers"] == {}
        h.cli("rm", "-f", "gone")
        time.sleep(0.2)
        assert sleeper.poll() is None, "rm -f killed the process that took the recycled PID"
    finally:
        sleeper.kill()
        sleeper.wait(10)
        harness.delete_netns(other_ns)


def test_record_from_another_boot_is_not_trusted(phost):
    """A recorded PID and start time that match a living process but were recorded
    during another boot (boot id) name nobody: not adopted, not signalled, not
    re-pinned.  (The process here is the container's own, so that the match is
    exact; the daemon must still leave it alone.)"""
    h = phost
    h.cli("network", "create", "--subnet", "10.235.0.0/24", "rec")
    h.cli("run", "-d", "--name", "old", "--network", "rec", "busybox", "sleep", "3600")
    info = h.inspect("old")
    cid, pid, key = info["Id"], info["State"]["Pid"], info["NetworkSettings"]["SandboxKey"]
    h.kill9()
    edit_record(h, cid, boot_id="00000000-0000-4000-8000-000000000000")
    h.start(*h.daemon_args)
    assert h.inspect("old")["State"]["Status"] == "exited"
    assert pid_alive(pid), "a process named by another boot's record was signalled"
    assert key not in h.pins(), "a process named by another boot's record was re-pinned"
    h.cli("rm", "-f", "old")   # runc's own record still names it: rm removes it
    wait_gone(pid)
