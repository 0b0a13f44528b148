"""Bounded buffers: a container cannot exhaust the daemon (issue 14, item 10).

Against the real daemon, its memory read from /proc/PID/status (VmRSS of the
boxnetd the harness started) while a container does its worst:
- `exec -d yes` for 30 s: the output is discarded (as Docker does), the
  daemon stays within 50 MiB of where it started, and `yes` really runs;
- an attached exec that writes as fast as it can to a client that reads
  slowly, and what happens when that client leaves (the exec is killed);
  stdin pushed at a container that never reads it is back-pressured;
- containers (TTY and not) writing as fast as they can while slow `attach`
  and `logs -f` clients read: memory bounded, and no byte lost once the
  clients read fast again;
- `logs --tail 10` of a 300 MB log answers at once without reading it,
  a full `logs` of it is streamed;
- while a container with a million files in its writable layer is removed,
  GET /_ping and DNS queries from another container keep answering (< 1 s
  each: not stalling, not a speed target).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import threading
import re
import time
from pathlib import Path

import pytest

from integration import harness
from integration.harness import UnixHTTPConnection

pytestmark = pytest.mark.kernel
MiB = 1 << 20
RSS_SLACK = 50 * MiB


def daemon_pid(host) -> int:
    """The PID of the boxnetd the harness started (its pidfile)."""
    return int((host.dir / "boxnetd.pid").read_text())


def rss(pid: int) -> int:
    """VmRSS of `pid` in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class RssWatch:
    """Samples a process's RSS in a thread; `peak` is the highest seen."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every = pid, every
        self.start = self.peak = rss(pid)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss(self.pid))

    def stop(self) -> int:
        """Stop sampling; the growth (peak - start) in bytes."""
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss(self.pid))
        return self.peak - self.start

    def check(self, what: str) -> None:
        """Stop and assert the growth stayed within RSS_SLACK."""
        grew = self.stop()
        print(f"{what}: boxnetd RSS {self.start / MiB:.0f} -> peak {self.peak / MiB:.0f} MiB")
        assert grew < RSS_SLACK, (f"{what}: boxnetd RSS grew by {grew / MiB:.0f} MiB "
                                  f"({self.start / MiB:.0f} -> {self.peak / MiB:.0f} MiB)")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def warm_up(host, name: str) -> None:
    """One exec, one attach-free logs call: the daemon's code paths are loaded."""
    host.exec(name, "true", check=True)
    host.api("GET", f"/containers/{name}/logs?stdout=1&tail=1")


def hijack(host, path: str, body: dict | None = None, rcvbuf: int = 0) -> socket.socket:
    """A raw upgraded POST on the API socket, the 101 headers read; the socket
    (optionally with a small receive buffer: a slow client)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(str(host.sock))
    data = json.dumps(body).encode() if body is not None else b""
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(data)}\r\n\r\n"
              .encode() + data)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, f"connection closed in the headers: {head!r}"
        head += chunk
    assert head.split(b" ", 2)[1] in (b"101", b"200"), head
    return s


def get_stream(host, path: str, rcvbuf: int = 0) -> socket.socket:
    """A raw GET on the API socket (HTTP/1.0: the body is the rest of the
    stream, no chunked coding), its headers read; the socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(str(host.sock))
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, f"connection closed in the headers: {head!r}"
        head += chunk
    assert head.split(b" ", 2)[1] == b"200", head
    return s


class Demux:
    """Docker's multiplexed stream, parsed incrementally: counts per stream
    and the first/last bytes of stdout."""

    def __init__(self):
        self.buf = b""
        self.count = {1: 0, 2: 0}
        self.head = b""
        self.tail = b""

    def feed(self, data: bytes) -> None:
        """Parse what came in."""
        self.buf += data
        while len(self.buf) >= 8:
            stream, n = struct.unpack(">BxxxL", self.buf[:8])
            assert stream in (1, 2), f"bad frame header {self.buf[:8]!r}"
            if len(self.buf) < 8 + n:
                break
            payload, self.buf = self.buf[8:8 + n], self.buf[8 + n:]
            self.count[stream] += n
            if stream == 1:
                if len(self.head) < 64:
                    self.head += payload[:64]
                self.tail = (self.tail + payload)[-64:]


def read_slowly(s: socket.socket, seconds: float, sink, chunk: int = 4096,
                pause: float = 0.05) -> None:
    """A slow client: `chunk` bytes every `pause` seconds for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = s.recv(chunk)
        assert data, "the daemon ended the stream of a slow client"
        sink(data)
        time.sleep(pause)


def read_until(s: socket.socket, done, sink, timeout: float = 120) -> None:
    """Read fast until done() (or EOF)."""
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, "the stream did not end in time"
        data = s.recv(1 << 20)
        if not data:
            return
        sink(data)


# ---- exec ------------------------------------------------------------------------------
def test_exec_detached_yes_keeps_memory_bounded(host):
    host.cli("run", "-d", "--name", "bnd-yes", "busybox", "sleep", "600")
    warm_up(host, "bnd-yes")
    watch = RssWatch(daemon_pid(host))
    st, ex = host.api("POST", "/containers/bnd-yes/exec", json={
        "Cmd": ["yes"], "AttachStdout": False, "AttachStderr": False})
    assert st == 201, ex
    st, reply = host.api("POST", f"/exec/{ex['Id']}/start", json={"Detach": True})
    assert st == 200, reply
    info = host.api_ok("GET", f"/exec/{ex['Id']}/json")
    assert info["Running"] and info["Pid"] > 0, info
    cpu0 = cpu_seconds(info["Pid"])
    time.sleep(30)
    info = host.api_ok("GET", f"/exec/{ex['Id']}/json")
    busy = cpu_seconds(info["Pid"]) - cpu0
    watch.check("30 s of `exec -d yes`")
    assert info["Running"], info
    # yes really wrote all that time (not blocked on a pipe nobody reads)
    assert busy > 3, f"yes used only {busy:.1f} s of CPU in 30 s"
    host.cli("rm", "-f", "bnd-yes")


def test_exec_detached_missing_program(host):
    host.cli("run", "-d", "--name", "bnd-miss", "busybox", "sleep", "600")
    st, ex = host.api("POST", "/containers/bnd-miss/exec", json={"Cmd": ["no-such-prog"]})
    assert st == 201, ex
    st, reply = host.api("POST", f"/exec/{ex['Id']}/start", json={"Detach": True})
    assert st == 400 and "no-such-prog" in reply["message"], (st, reply)
    info = host.api_ok("GET", f"/exec/{ex['Id']}/json")
    assert (info["Running"], info["ExitCode"]) == (False, 127), info
    host.cli("rm", "-f", "bnd-miss")
    # the container's execs go with it (they are not kept for ever)
    st, reply = host.api("GET", f"/exec/{ex['Id']}/json")
    assert st == 404 and "No such exec instance" in reply["message"], (st, reply)


def test_exec_detached_tty_gets_a_terminal_whose_output_is_discarded(host):
    host.cli("run", "-d", "--name", "bnd-dtty", "busybox", "sleep", "600")
    warm_up(host, "bnd-dtty")
    st, ex = host.api("POST", "/containers/bnd-dtty/exec", json={
        "Cmd": ["sh", "-c", "tty > /tty.txt; head -c 50000000 /dev/zero; echo done > /done"],
        "Tty": True})
    assert st == 201, ex
    watch = RssWatch(daemon_pid(host))
    st, reply = host.api("POST", f"/exec/{ex['Id']}/start", json={"Detach": True, "Tty": True})
    assert st == 200, reply
    deadline = time.monotonic() + 60
    while (info := host.api_ok("GET", f"/exec/{ex['Id']}/json"))["Running"]:
        assert time.monotonic() < deadline, "50 MB to a detached terminal did not drain"
        time.sleep(0.2)
    watch.check("`exec -d -t` writing 50 MB to its terminal")
    assert info["ExitCode"] == 0, info
    r = host.exec("bnd-dtty", "cat", "/tty.txt", "/done", check=True)
    assert r.stdout.split() == ["/dev/pts/0", "done"], r
    st, ex = host.api("POST", "/containers/bnd-dtty/exec", json={"Cmd": ["nope"], "Tty": True})
    st, reply = host.api("POST", f"/exec/{ex['Id']}/start", json={"Detach": True, "Tty": True})
    assert st == 400 and "nope" in reply["message"], (st, reply)
    assert host.api_ok("GET", f"/exec/{ex['Id']}/json")["ExitCode"] == 127
    host.cli("rm", "-f", "bnd-dtty")


def test_attached_exec_streams_to_a_slow_client_and_dies_with_it(host):
    host.cli("run", "-d", "--name", "bnd-chat", "busybox", "sleep", "600")
    warm_up(host, "bnd-chat")
    # big stdin in, the same out, exit code kept: streamed both ways
    payload = "x" * (5 * MiB)
    r = host.cli("exec", "-i", "bnd-chat", "sh", "-c", "wc -c; echo e >&2; exit 3",
                 check=False, input=payload, timeout=60)
    assert (r.returncode, r.stdout.strip(), r.stderr.strip()) == (3, str(5 * MiB), "e"), r
    st, ex = host.api("POST", "/containers/bnd-chat/exec", json={
        "Cmd": ["yes"], "AttachStdout": True, "AttachStderr": True})
    assert st == 201, ex
    watch = RssWatch(daemon_pid(host))
    s = hijack(host, f"/exec/{ex['Id']}/start", {"Detach": False}, rcvbuf=8192)
    demux = Demux()
    read_slowly(s, 10, demux.feed)
    pid = host.api_ok("GET", f"/exec/{ex['Id']}/json")["Pid"]
    watch.check("an attached `exec yes` read slowly for 10 s")
    assert demux.head.startswith(b"y\ny\n") and demux.count[1] > 64 * 1024, demux.count
    s.close()   # the client leaves: the exec is killed, as dockerd does
    deadline = time.monotonic() + 10
    while host.api_ok("GET", f"/exec/{ex['Id']}/json")["Running"]:
        assert time.monotonic() < deadline, "the exec outlived its client"
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}"), f"yes ({pid}) still runs"
    host.cli("rm", "-f", "bnd-chat")


def test_exec_tty_slow_client_pauses_the_terminal(host):
    """`exec -t cat /dev/zero` read slowly: the daemon stops reading the pty
    (cat blocks on its terminal) instead of queueing its output; a client
    that leaves hangs the terminal up.  (Zeros: no newline for the terminal
    to expand, so the pty is fast.)"""
    host.cli("run", "-d", "--name", "bnd-etty", "busybox", "sleep", "600")
    warm_up(host, "bnd-etty")
    st, ex = host.api("POST", "/containers/bnd-etty/exec", json={
        "Cmd": ["cat", "/dev/zero"], "Tty": True, "AttachStdout": True, "AttachStderr": True})
    assert st == 201, ex
    watch = RssWatch(daemon_pid(host))
    s = hijack(host, f"/exec/{ex['Id']}/start", {"Detach": False, "Tty": True}, rcvbuf=8192)
    seen = bytearray()

    def keep(data: bytes) -> None:
        if len(seen) < 4096:
            seen.extend(data)
    read_slowly(s, 10, keep)
    watch.check("an `exec -t cat /dev/zero` read slowly for 10 s")
    assert seen.startswith(bytes(64)), bytes(seen[:64])
    s.close()
    deadline = time.monotonic() + 10
    while host.api_ok("GET", f"/exec/{ex['Id']}/json")["Running"]:
        assert time.monotonic() < deadline, "the exec outlived its client"
        time.sleep(0.1)
    host.cli("rm", "-f", "bnd-etty")


def test_stdin_nobody_reads_is_back_pressured(host):
    """A client pushing stdin into a container that never reads it: the daemon
    stops reading the client's socket (its sends block) instead of buffering."""
    host.cli("run", "-d", "-i", "--name", "bnd-stdin", "busybox", "sleep", "600")
    watch = RssWatch(daemon_pid(host))
    s = hijack(host, "/containers/bnd-stdin/attach?stream=1&stdin=1&stdout=1&stderr=1")
    s.settimeout(3)
    sent, block = 0, b"z" * 65536
    try:
        while sent < 256 * MiB:
            sent += s.send(block)
    except socket.timeout:
        pass
    watch.check("stdin pushed at a container that does not read it")
    assert sent < 32 * MiB, f"the daemon took {sent / MiB:.0f} MiB of unread stdin"
    s.close()
    host.cli("rm", "-f", "bnd-stdin")


# ---- containers writing as fast as they can ------------------------------------------------
LINES = 20_000_000   # "y\n" lines: 40 MB of output per container


@pytest.mark.parametrize("tty", [False, True], ids=["plain", "tty"])
def test_fast_writer_with_slow_attach_and_logs_follow(host, tty):
    name = f"bnd-fast-{'t' if tty else 'p'}"
    host.cli("run", "-d", *(["-t"] if tty else []), "--name", name, "busybox", "sh", "-c",
             f"sleep 3; yes | head -n {LINES}; echo END; sleep 600")
    watch = RssWatch(daemon_pid(host))
    att = hijack(host, f"/containers/{name}/attach?stream=1&stdout=1&stderr=1", rcvbuf=8192)
    logs = get_stream(host, f"/containers/{name}/logs?follow=1&stdout=1&stderr=1",
                      rcvbuf=8192)
    got = {"att": bytearray(), "logs": bytearray()}
    demux = {"att": Demux(), "logs": Demux()}

    def sink(key):
        def feed(data: bytes) -> None:
            if tty:   # raw stream: keep only a count and the end
                got[key] += data
                demux[key].count[1] += data.count(b"y")
                del got[key][:-16]
            else:
                demux[key].feed(data)
        return feed

    t = threading.Thread(target=read_slowly, args=(logs, 12, sink("logs")))
    t.start()
    read_slowly(att, 12, sink("att"))
    t.join()
    size = os.path.getsize(host.data_root / "runtime" / "containers" /
                           host.inspect(name)["Id"] / "stdout.log")
    watch.check(f"slow attach and logs -f on a {'TTY ' if tty else ''}container writing fast")
    # The slow clients took ~1 MB each: the rest waited for them (in the log,
    # not in the daemon or the shim, whose limit per client is 1 MiB).
    assert size > 4 * MiB, f"the container wrote only {size} bytes in 12 s"
    # Nothing was dropped: read fast now, up to the END marker.
    for key, s in (("att", att), ("logs", logs)):
        def done(key=key):
            return b"END" in (got[key] if tty else demux[key].tail)
        read_until(s, done, sink(key))
        s.close()
        if tty:   # the terminal made each "y\n" a "y\r\n": count the y's
            assert demux[key].count[1] == LINES, f"{key}: {demux[key].count[1]} of {LINES} lines"
        else:
            assert demux[key].count[1] == 2 * LINES + len(b"END\n"), (key, demux[key].count)
    host.cli("rm", "-f", name)


# ---- logs ----------------------------------------------------------------------------
BIG = 300_000_000


@pytest.fixture(scope="module")
def big_log(host):
    """A stopped container whose stdout log is 300 MB, then the numbers 1..20."""
    host.cli("run", "-d", "--name", "bnd-biglog", "busybox", "sh", "-c",
             f"yes abcdefghi | head -c {BIG}; seq 1 20")
    host.cli("wait", "bnd-biglog", timeout=120)
    yield "bnd-biglog"
    host.cli("rm", "-f", "bnd-biglog")


def _logs(host, query: str) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(str(host.sock), timeout=60)
    conn.request("GET", f"/containers/bnd-biglog/logs?{query}")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_logs_tail_of_a_huge_log(host, big_log):
    warm_up_logs = _logs(host, "stdout=1&tail=1")
    assert warm_up_logs[0] == 200
    watch = RssWatch(daemon_pid(host), every=0.02)
    t0 = time.monotonic()
    st, body = _logs(host, "stdout=1&stderr=1&tail=10")
    took = time.monotonic() - t0
    watch.check("logs --tail 10 of a 300 MB log")
    demux = Demux()
    demux.feed(body)
    want = b"".join(b"%d\n" % i for i in range(11, 21))
    assert st == 200 and demux.buf == b"" and demux.count == {1: len(want), 2: 0}, (st, body)
    assert demux.tail == want, body
    assert took < 5, f"tail 10 of a 300 MB log took {took:.1f} s: the file was read"
    assert _logs(host, "stdout=1&tail=0") == (200, b"")
    for bad in ("abc", "%C2%B3", "1.5"):   # ³: a digit to str.isdigit, not a number
        st, body = _logs(host, f"stdout=1&tail={bad}")
        assert st == 400 and b"tail" in body, (bad, st, body)
    st, body = _logs(host, "stdout=1&timestamps=1&tail=1")   # times from the log clock
    assert st == 200 and re.search(rb"\d{4}-\d\d-\d\dT[\d:]+\.\d{9}Z 20\n$", body), body


def test_logs_of_a_huge_log_are_streamed(host, big_log):
    watch = RssWatch(daemon_pid(host))
    s = get_stream(host, "/containers/bnd-biglog/logs?stdout=1&stderr=1")
    demux = Demux()
    read_slowly(s, 3, demux.feed, chunk=65536, pause=0.01)
    read_until(s, lambda: False, demux.feed)
    s.close()
    watch.check("logs of a 300 MB log")
    assert demux.count[1] == BIG + len(b"".join(b"%d\n" % i for i in range(1, 21))), demux.count
    assert demux.tail.endswith(b"19\n20\n"), demux.tail


# ---- removal of a big writable layer ---------------------------------------------------
FILES_DIRS, FILES_PER_DIR = 1000, 1000   # a million files

DNS_PROBE = r"""
import json, select, socket, struct, sys, time
import dns.message
name = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
q = bytearray(dns.message.make_query(name, "A").to_wire())
out, i = [], 0
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0.02)[0]:
    i += 1
    q[0:2] = struct.pack("!H", i & 0xFFFF)
    t0, w0 = time.perf_counter(), time.time()
    s.sendto(q, ("127.0.0.11", 53))
    try:
        while True:
            r = s.recv(4096)
            if r[:2] == q[:2]:
                break
        ok = bool(dns.message.from_wire(r).answer)
        out.append([w0, time.perf_counter() - t0, ok])
    except socket.timeout:
        out.append([w0, None, False])
print(json.dumps(out))
"""


@pytest.fixture
def tmpfs_host(monkeypatch):
    """A TestHost whose directories live on a private tmpfs.  Why: on this
    VM's ext4 (mounted with `discard`) creating a million files takes many
    minutes; on tmpfs seconds, and their removal still costs the daemon's
    rmtree seconds of work: the point of the test."""
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    base = Path(harness.TMP_BASE) / f"bxr-{secrets.token_hex(4)}"
    base.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=4g", "bnd", str(base)],
                   check=True)
    monkeypatch.setattr(harness, "TMP_BASE", base)
    h = harness.TestHost()
    try:
        h.start()
        yield h
    finally:
        problems = h.teardown()
        subprocess.run(["umount", str(base)], check=False)
        base.rmdir()
        assert not problems, problems


def test_removal_of_a_million_files_does_not_stall_api_or_dns(tmpfs_host):
    host = tmpfs_host
    host.cli("network", "create", "bnd-net")
    host.cli("run", "-d", "--name", "bnd-big", "--network", "bnd-net", "busybox", "sleep", "600")
    host.cli("run", "-d", "--name", "bnd-peer", "--network", "bnd-net", "busybox", "sleep", "600")
    cid = host.inspect("bnd-big")["Id"]
    bundle = host.data_root / "runtime" / "containers" / cid
    upper = bundle / "upper"
    # The container's writable layer, written from its host side (fast).
    top = upper / "m"
    top.mkdir()
    for d in range(FILES_DIRS):
        p = f"{top}/{d}"
        os.mkdir(p)
        for j in range(FILES_PER_DIR):
            os.close(os.open(f"{p}/{j}", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    r = host.exec("bnd-big", "sh", "-c", "ls /m | wc -l; ls /m/500 | wc -l", check=True)
    assert r.stdout.split() == [str(FILES_DIRS), str(FILES_PER_DIR)], r
    probe = subprocess.Popen(
        ["nsenter", f"--net={host.inspect('bnd-peer')['NetworkSettings']['SandboxKey']}",
         sys.executable, "-c", DNS_PROBE, "bnd-peer"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    harness.STARTED_PIDS.add(probe.pid)
    assert probe.stdout.readline().strip() == "ready"
    pings: list[tuple[float, float | None]] = []
    stop = threading.Event()

    def ping() -> None:
        while not stop.is_set():
            w0, t0 = time.time(), time.perf_counter()
            try:
                st, body = host.api("GET", "/_ping", timeout=10)
                pings.append((w0, time.perf_counter() - t0 if st == 200 else None))
            except OSError:
                pings.append((w0, None))
            time.sleep(0.05)
    pinger = threading.Thread(target=ping)
    pinger.start()
    try:
        time.sleep(0.5)
        t_rm = time.time()
        st, body = host.api("DELETE", "/containers/bnd-big?force=1", timeout=300)
        t_done = time.time()
        time.sleep(0.3)
    finally:
        stop.set()
        pinger.join()
        out, _ = probe.communicate("", timeout=30)
    assert st == 204, (st, body)
    assert not bundle.exists(), "the bundle is still there"
    during = [lat for w, lat in pings if t_rm <= w <= t_done]
    dns = [(lat, ok) for w, lat, ok in json.loads(out) if t_rm <= w <= t_done]
    took = t_done - t_rm
    assert took > 1, f"removal took only {took:.2f} s: too little work to tell a stall"
    assert len(during) >= 5 and len(dns) >= 5, (took, len(during), len(dns))
    assert all(lat is not None and lat < 1 for lat in during), \
        f"/_ping during a {took:.1f} s removal: worst {max(x or 99 for x in during):.2f} s"
    assert all(lat is not None and lat < 1 and ok for lat, ok in dns), \
        f"DNS during a {took:.1f} s removal: {[d for d in dns if d[0] is None or d[0] >= 1]}"
    print(f"removal of {FILES_DIRS * FILES_PER_DIR} files: {took:.1f} s; worst /_ping "
          f"{max(during) * 1000:.0f} ms, worst DNS {max(lat for lat, _ in dns) * 1000:.0f} ms")
    host.cli("rm", "-f", "bnd-peer")
    host.cli("network", "rm", "bnd-net")
