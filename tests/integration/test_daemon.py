"""boxnetd as a process, on the real kernel: one daemon per data root (a second one is
refused with a message naming the first), the pidfile, the API socket's mode and owner
(0660 root:root, or the --group), HEAD /_ping with its Api-Version header, a clean
exit on SIGTERM (also with work in flight), and the engine ID in /info."""

from __future__ import annotations

import grp
import os
import stat
import subprocess
import time
import uuid

import pytest

from .harness import BOXNETD, UnixHTTPConnection

pytestmark = pytest.mark.kernel


def test_one_daemon_per_data_root(make_host):
    h = make_host()
    pid = int((h.dir / "boxnetd.pid").read_text().strip())
    assert pid == h.proc.pid or os.path.exists(f"/proc/{pid}"), pid
    r = subprocess.run(["nsenter", f"--net={h.netns}", BOXNETD, "--data-root",
                        str(h.data_root), "--exec-root", str(h.dir / "exec2"),
                        "-H", f"unix://{h.dir / 'sock2'}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "in use by another boxnetd" in r.stderr and str(pid) in r.stderr, r.stderr
    assert not (h.dir / "sock2").exists()
    assert h.api("GET", "/_ping")[0] == 200   # the first one is untouched


def test_socket_mode_owner_and_group(make_host):
    h = make_host()
    st = os.stat(h.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (0, 0)
    h.stop()
    h.start("--group", "daemon")
    st = os.stat(h.sock)
    assert st.st_gid == grp.getgrnam("daemon").gr_gid and stat.S_IMODE(st.st_mode) == 0o660


def test_head_ping_and_api_version_header(make_host):
    h = make_host()
    for path in ("/_ping", "/v1.50/_ping"):
        for method in ("HEAD", "GET"):
            conn = UnixHTTPConnection(str(h.sock), timeout=10)
            conn.request(method, path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status == 200, (method, path, resp.status)
            assert resp.getheader("Api-Version") == "1.52", resp.getheaders()
            assert body == (b"" if method == "HEAD" else b"OK"), body


def test_sigterm_exits_cleanly(make_host):
    h = make_host()
    h.cli("network", "create", "term-net")
    assert h.stop() == 0, h.log_tail()
    h.start()
    assert h.network("term-net")["Name"] == "term-net"
    h.cli("network", "rm", "term-net")


def test_info_id_is_the_engine_id(make_host):
    """/info ID is the daemon's engine ID, as dockerd's: a UUID kept in
    <data-root>/engine-id, the same after a restart, another one elsewhere."""
    h = make_host()
    first = h.api_ok("GET", "/info")["ID"]
    assert str(uuid.UUID(first)) == first, first
    assert (h.data_root / "engine-id").read_text().strip() == first
    h.restart()
    assert h.api_ok("GET", "/info")["ID"] == first
    assert make_host().api_ok("GET", "/info")["ID"] != first


def test_info_counts_event_listeners(make_host):
    h = make_host()
    assert h.api_ok("GET", "/info")["NEventsListener"] == 0
    conns = [_pending(h, "/events"), _pending(h, "/events")]
    deadline = time.monotonic() + 10
    while h.api_ok("GET", "/info")["NEventsListener"] != 2:
        assert time.monotonic() < deadline, h.api_ok("GET", "/info")["NEventsListener"]
        time.sleep(0.05)
    for conn in conns:
        conn.close()
    while h.api_ok("GET", "/info")["NEventsListener"] != 0:   # a client that left is dropped
        assert time.monotonic() < deadline + 10
        time.sleep(0.05)


def _pending(h, path: str, method: str = "GET") -> UnixHTTPConnection:
    """A request sent whose answer is not read (a stream or a wait in flight)."""
    conn = UnixHTTPConnection(str(h.sock), timeout=10)
    conn.request(method, path)
    return conn


def test_sigterm_with_work_in_flight(make_host):
    """SIGTERM while a restart policy keeps restarting a container, a wait and an
    event stream are open and a container runs: boxnetd exits 0, its socket and
    pidfile are gone, its shutdown logs no error and leaves no stray task, and
    the next start still has both containers (the running one still running)."""
    h = make_host()
    h.cli("run", "-d", "--name", "keep", "busybox", "sleep", "1000")
    h.cli("run", "-d", "--name", "flap", "--restart", "always", "busybox",
          "sh", "-c", "sleep 0.2; exit 3")
    time.sleep(1.0)   # a few exits and restarts: background tasks of the controller
    assert h.inspect("flap")["RestartCount"] >= 1
    conns = [_pending(h, "/events"), _pending(h, "/containers/keep/wait", "POST")]
    mark = h.log_path.stat().st_size
    assert h.stop() == 0, h.log_tail()
    shutdown = h.log_path.read_bytes()[mark:].decode(errors="replace")
    for bad in ("Traceback", " ERROR ", "Task was destroyed", "never retrieved",
                "Unclosed", "Exception ignored"):
        assert bad not in shutdown, shutdown
    assert "shutting down" in shutdown, shutdown
    assert not h.sock.exists() and not (h.dir / "boxnetd.pid").exists()
    for conn in conns:
        conn.close()
    h.start()
    assert h.inspect("keep")["State"]["Running"] is True
    assert h.inspect("flap")["Name"] == "/flap"
    h.cli("rm", "-f", "keep", "flap")
