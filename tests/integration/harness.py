"""The test host in a network namespace: a throwaway world for one boxnetd.

A `TestHost` is a fresh netns (`bxt-<8hex>`) plus a temp dir holding the
daemon's data root, exec root, socket and log.  boxnetd is started inside it
with `nsenter --net` (not `ip netns exec`, which remounts /sys and hides the
cgroup mounts runc needs).  Teardown kills only the PIDs this module started
(and processes living in namespaces this module created), unmounts what the
daemon left under the temp dir, deletes the netns and the dir.
`leftovers()` lists anything a run created that is still there.

Each host's dir holds `owner.lock`, and every netns made here a `<name>.owner`
beside the dirs, flocked by the test process for the object's life: the kernel releases it however that process ends (a `timeout` or a
SIGKILL skips every teardown), so `reap_orphans()` (called when a test session
starts) can tell a dead run's hosts from a live concurrent run's and destroy
only those: their daemon and supervisor live in the host netns (killed with it),
containers are found by their runc state under the dir.

Plain module (no pytest import) so bench/ can reuse it.
"""

from __future__ import annotations

import fcntl
import http.client
import json as jsonlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import cleanup

BIN_DIR = Path(sys.executable).parent          # the venv's bin (not resolved)
BOXNETD = os.environ.get("BOXNETD", str(BIN_DIR / "boxnetd"))
BOXNET = os.environ.get("BOXNET_CLI", str(BIN_DIR / "boxnet"))
TMP_BASE = Path(os.environ.get("BOXNET_TEST_TMP", "/tmp"))

CREATED_NETNS: set[str] = set()     # every netns this process made
CREATED_DIRS: set[Path] = set()     # every temp dir this process made


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


class PidSet(set):
    """PIDs this run started, each with its start time: PIDs wrap (pid_max is 32768 here
    and a run forks tens of thousands of processes), so a PID alive at the end is ours
    only if its process started when ours did."""

    def __init__(self):
        super().__init__()
        self.started: dict[int, str | None] = {}

    def add(self, pid: int) -> None:
        """Record pid with its start time."""
        super().add(pid)
        self.started[pid] = _start_time(pid)

    def still_ours(self, pid: int) -> bool:
        """pid is alive (not a zombie) and is the process this run started."""
        return cleanup.pid_alive(pid) and _start_time(pid) == self.started.get(pid)


STARTED_PIDS = PidSet()             # every daemon / helper PID this process started
LIVE_HOSTS: list["TestHost"] = []   # hosts not torn down yet (for failure logs)
_NETNS_LOCKS: dict[str, int] = {}    # netns name -> fd holding its <name>.owner lock


def run(argv: list[str], check: bool = True, timeout: float = 60,
        input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command, capture text output; on failure raise with its output."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{argv!r} still running after {timeout}s\n"
                             f"stdout so far: {e.stdout!r}\nstderr so far: {e.stderr!r}") from None
    if check and r.returncode != 0:
        raise AssertionError(f"{argv!r} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def new_netns(prefix: str = "bxt-") -> str:
    """Create a netns with a random unused name, loopback up; return the name."""
    while True:
        name = f"{prefix}{secrets.token_hex(4)}"
        if not os.path.exists(f"/run/netns/{name}"):
            break
    _NETNS_LOCKS[name] = hold_lock(TMP_BASE / f"{name}.owner")
    run(["ip", "netns", "add", name])
    CREATED_NETNS.add(name)
    run(["ip", "-n", name, "link", "set", "lo", "up"])
    return name


def delete_netns(name: str) -> None:
    """Kill what still lives in the netns (we made it), then delete it."""
    path = f"/run/netns/{name}"
    if os.path.exists(path):
        cleanup.kill_netns_processes([path])
        run(["ip", "netns", "del", name], check=False)
    fd = _NETNS_LOCKS.pop(name, None)
    if fd is not None and not os.path.exists(path):
        (TMP_BASE / f"{name}.owner").unlink(missing_ok=True)
        os.close(fd)


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX socket."""

    def __init__(self, path: str, timeout: float = 60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        """Connect to the unix socket instead of TCP."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class TestHost:
    """A host netns with its own boxnetd, data root, exec root and socket."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        """Create the netns and the temp dir (the daemon is not started)."""
        self.name = new_netns()
        self.netns = f"/run/netns/{self.name}"
        self.dir = TMP_BASE / self.name
        self.dir.mkdir(mode=0o700)
        CREATED_DIRS.add(self.dir)
        self._owner = hold_lock(self.dir / OWNER_LOCK)
        self.data_root = self.dir / "data"
        self.exec_root = self.dir / "exec"
        self.data_root.mkdir()
        self.exec_root.mkdir()
        self.sock = self.dir / "sock"
        self.host_uri = f"unix://{self.sock}"
        self.log_path = self.dir / "boxnetd.log"
        self.proc: subprocess.Popen | None = None
        self.daemon_args: list[str] = []
        self.host_image = True            # start with --allow-host-image (most tests run boxnet/host)
        self.launcher: list[str] = []     # argv prefix for the daemon (e.g. unshare --mount)
        self.outsides: list = []          # Outside worlds joined to this host
        LIVE_HOSTS.append(self)

    # ----- daemon lifecycle -------------------------------------------------
    def start(self, *extra: str, timeout: float = 30) -> None:
        """Start boxnetd in the netns (extra flags kept for restart); wait for /_ping.

        --allow-host-image is added unless `self.host_image` was set False."""
        assert self.proc is None or self.proc.poll() is not None, "daemon already running"
        self.daemon_args = list(extra)
        argv = [*self.launcher, "nsenter", f"--net={self.netns}", BOXNETD,
                "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "-H", self.host_uri, "--log-level", "debug",
                "--pidfile", str(self.dir / "boxnetd.pid"),
                *(["--allow-host-image"] if self.host_image else []), *extra]
        log = open(self.log_path, "ab")
        log.write(f"\n=== start {' '.join(argv)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        STARTED_PIDS.add(self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"boxnetd exited {self.proc.returncode} at start\n{self.log_tail()}")
            try:
                status, body = self.api("GET", "/_ping", timeout=2)
                if status == 200 and body == "OK":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"boxnetd not ready after {timeout}s\n{self.log_tail()}")

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM our daemon, SIGKILL it after `timeout`; return its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"boxnetd ignored SIGTERM for {timeout}s\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL our daemon (its PID only: containers and helpers survive)."""
        assert self.proc is not None and self.proc.poll() is None, "daemon not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def restart(self, timeout: float = 30) -> None:
        """Stop (if running) and start again with the same roots, socket and flags."""
        self.stop()
        self.start(*self.daemon_args, timeout=timeout)

    def running(self) -> bool:
        """Whether our daemon process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 200) -> str:
        """The last lines of the daemon log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no daemon log)"
        # pyroute2's debug chatter would bury the daemon's own messages
        kept = [line for line in text.splitlines() if " pyroute2." not in line]
        return "\n".join(kept[-lines:])

    # ----- clients ----------------------------------------------------------
    def api(self, method: str, path: str, json=None, body: bytes | str | None = None,
            headers: dict | None = None, timeout: float = 60):
        """One Docker API request on the socket; return (status, parsed JSON or text)."""
        conn = UnixHTTPConnection(str(self.sock), timeout=timeout)
        hdrs = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json)
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        text = raw.decode(errors="replace")
        if "json" in (resp.getheader("Content-Type") or "") and text:
            try:
                return resp.status, jsonlib.loads(text)
            except ValueError:
                pass
        return resp.status, text

    def api_ok(self, method: str, path: str, json=None, ok=(200, 201, 204)):
        """api() that asserts a success status; returns the body."""
        status, body = self.api(method, path, json=json)
        assert status in ok, f"{method} {path} -> {status}: {body}"
        return body

    def cli(self, *args: str, check: bool = True, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run the boxnet CLI against this host's socket."""
        return run([BOXNET, "-H", self.host_uri, *args], check=check,
                   timeout=timeout, input=input)

    def exec(self, container: str, *cmd: str, check: bool = False,
             timeout: float = 30) -> subprocess.CompletedProcess:
        """`boxnet exec container cmd...`; the exit code is the process's."""
        return self.cli("exec", container, *cmd, check=check, timeout=timeout)

    def sh(self, cmd: str | list[str], check: bool = True,
           timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command (string: through sh -c) inside the host netns."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return run(["nsenter", f"--net={self.netns}", *argv], check=check, timeout=timeout)

    # ----- observations -----------------------------------------------------
    def inspect(self, container: str) -> dict:
        """Container inspect through the API."""
        return self.api_ok("GET", f"/containers/{container}/json")

    def network(self, name: str) -> dict:
        """Network inspect through the API."""
        return self.api_ok("GET", f"/networks/{name}")

    def ip_of(self, container: str, network: str, v6: bool = False) -> str:
        """The container's address on a network, from inspect (no prefix)."""
        ep = self.inspect(container)["NetworkSettings"]["Networks"][network]
        addr = ep["GlobalIPv6Address"] if v6 else ep["IPAddress"]
        assert addr, f"{container} has no {'IPv6' if v6 else 'IPv4'} address on {network}: {ep}"
        return addr

    def links(self) -> list[dict]:
        """`ip -j -d link` of the host netns."""
        return jsonlib.loads(self.sh(["ip", "-j", "-d", "link", "show"]).stdout or "[]")

    def link_names(self) -> list[str]:
        """Sorted interface names in the host netns."""
        return sorted(link["ifname"] for link in self.links())

    def nft_ruleset(self) -> str:
        """`nft list ruleset` of the host netns (never the root netns)."""
        return self.sh(["nft", "list", "ruleset"]).stdout

    def nft_json(self) -> list[dict]:
        """`nft -j list ruleset` of the host netns, the list of objects."""
        out = self.sh(["nft", "-j", "list", "ruleset"]).stdout
        return jsonlib.loads(out or '{"nftables": []}')["nftables"]

    def sysctl(self, key: str) -> str:
        """A net.* sysctl as seen from inside the host netns."""
        return self.sh(["cat", "/proc/sys/" + key.replace(".", "/")]).stdout.strip()

    # ----- teardown ---------------------------------------------------------
    def teardown(self) -> list[str]:
        """Destroy everything; return problems found (empty when clean)."""
        problems: list[str] = []
        for out in list(self.outsides):
            out.teardown()
        try:
            self.stop()
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
        problems += destroy_world(self.name, self.dir)
        if self._owner >= 0:   # teardown may run twice (a test's own, then the session's)
            os.close(self._owner)
            self._owner = -1
        if self in LIVE_HOSTS:
            LIVE_HOSTS.remove(self)
        return problems


OWNER_LOCK = "owner.lock"


def hold_lock(path: Path) -> int:
    """Create `path` already flocked (made under a temp name, locked, then renamed,
    so no sweeper ever sees it unlocked); the fd stays open, and the lock held,
    until closed or this process ends (children do not inherit it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(tmp, path)
    return fd


def _lock_is_free(path: Path) -> int | None:
    """An fd holding `path`'s lock when its owner is gone; None when it is held
    (its run is alive) or the file is missing."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def destroy_world(name: str, directory: Path) -> list[str]:
    """Delete a host's runc containers, kill what lives in its netns (and in the
    netns pinned under its dir), unmount what is left, delete the netns and the
    dir; return the problems found."""
    problems = cleanup.delete_runc_containers(directory)
    pins = cleanup.nsfs_mounts_under(directory)
    cleanup.kill_netns_processes([f"/run/netns/{name}", *pins])
    problems += cleanup.umount_under(directory)
    delete_netns(name)
    if not cleanup.mounts_under(directory):
        shutil.rmtree(directory, ignore_errors=True)
    else:
        problems.append(f"mounts left under {directory}; not removing it")
    return problems


def reap_orphans() -> list[str]:
    """Destroy what test runs that died before their teardown left: hosts whose
    owner.lock is free (containers, mounts, netns, dir), then every other netns
    whose `<name>.owner` lock is free (outside worlds, LANs, underlays); a live
    run's (lock held) are left alone.  Returns the names reaped."""
    reaped = []
    for d in sorted(TMP_BASE.glob("bxt-*")):
        fd = _lock_is_free(d / OWNER_LOCK) if d.is_dir() else None
        if fd is None:
            continue
        try:
            destroy_world(d.name, d)
        finally:
            os.close(fd)
        reaped.append(d.name)
    for lock in sorted(TMP_BASE.glob("bxt-*.owner")):
        fd = _lock_is_free(lock)
        if fd is None:
            continue
        name = lock.name[:-len(".owner")]
        try:
            delete_netns(name)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
        reaped.append(name)
    return reaped


def leftovers() -> list[str]:
    """Everything this process created that is still there (empty when clean)."""
    left = [f"netns {n}" for n in sorted(CREATED_NETNS) if os.path.exists(f"/run/netns/{n}")]
    for d in sorted(CREATED_DIRS):
        left += [f"mount {m}" for m in cleanup.mounts_under(d)]
        if d.exists():
            left.append(f"dir {d}")
    left += [f"process {pid}" for pid in sorted(STARTED_PIDS) if STARTED_PIDS.still_ours(pid)]
    return left
