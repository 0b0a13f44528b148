"""boxnet-supervisor: one process per host that starts containers' `runc run -d`
and reaps their init processes, so exit codes outlive boxnetd.

Why a process apart from the daemon: only the parent (or the nearest child
subreaper above it) of a process learns its exit status.  `runc run -d`
forks the init and exits, so the init becomes the child of the nearest
subreaper above runc.  When that is the daemon, an init re-adopted after a
daemon restart can only be seen to die (a pidfd), never with its code (the
255 boxnet reported until issue 21).  This supervisor is a child subreaper
that runs every `runc run -d` itself and outlives the daemon: it reaps each
init and writes its exit record, `exit.json` {code, finished_at, pid} in the
container's bundle, atomically (tmp + fsync + rename + fsync of the dir),
before any daemon is told.  A daemon that comes back reads the record.

Why one per host and not one per container (containerd's shim model):
measured here (bench/scenarios/supervisor.py) a `python -S` process idle is
~10 MiB RSS and ~4.5 MiB Pss, far above the 1 MiB per container goal; this
one process costs a few hundred bytes per container (a dict entry).

The daemon starts it detached (own session) with a listening
SOCK_SEQPACKET unix socket it bound (`--listen-fd`: no readiness race).
Each message is one JSON object; fds travel as SCM_RIGHTS.  Requests:
  {"op": "hello", "proto": 1}  the daemon's connection for its lifetime;
      reply {"ok": true, "proto": 1, "pid": N}
  {"op": "run", "id", "argv", "pid_file", "exit_path"} + fds stdin, stdout,
      stderr, then any number passed on as 3, 4...: runs argv (the daemon's
      `nsenter --mount=/proc/self/fd/3 runc ... run -d`: runc runs in the
      daemon's mount namespace, where the container's root is mounted);
      reply {"ok": true, "pid": N} + a pidfd of the init (none when it has
      already exited), or {"ok": false, "rc": N}
  {"op": "wait", "id", "exit_path"}: reply {"code", "finished_at"} once the
      init has exited (at once when already recorded), {"unknown": true}
      when this supervisor does not know the container and no record exists.
It exits when no daemon is connected, no container runs and nothing is
pending.  Standard library only (ctypes for prctl), run with `python -S`.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import selectors
import signal
import socket
import sys
import time

PROTO = 1
MAX_MSG = 1 << 16
MAX_FDS = 8
PR_SET_CHILD_SUBREAPER = 36
ORPHAN_TTL = 60.0   # s an unclaimed reaped status is kept (an init reaped before its runc)
LOST_STATUS = 255 << 8   # wait status of an init whose real status went to another reaper


def rfc3339(t: float) -> str:
    """Docker's timestamp form (UTC, nanoseconds) of epoch seconds `t`."""
    ns = int(t * 1e9) % 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ns:09d}Z"


def exit_code(status: int) -> int:
    """Docker's exit code from a wait status: the code, or 128+signal."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def is_child(pid: int) -> bool:
    """Whether `pid` is (still) this process's child, alive or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return int(stat[stat.rfind(")") + 2:].split()[1]) == os.getpid()


def write_record(path: str, record: dict) -> None:
    """Write `record` at `path` atomically and durably (tmp, fsync, rename, fsync dir)."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_record(path: str) -> dict | None:
    """The exit record at `path`, None when there is none (or it is unreadable)."""
    try:
        with open(path, "rb") as f:
            rec = json.loads(f.read(MAX_MSG))
        return rec if isinstance(rec, dict) and isinstance(rec.get("code"), int) else None
    except (OSError, ValueError):
        return None


class Supervisor:
    """The event loop: requests from daemons, SIGCHLD, exit records."""

    def __init__(self, listen_fd: int, sock_path: str):
        self.sel = selectors.DefaultSelector()
        self.listener = socket.socket(fileno=listen_fd)
        self.listener.setblocking(False)
        self.sock_path = sock_path
        self.sock_ino = os.stat(sock_path).st_ino
        self.holds: set[socket.socket] = set()
        self.runs: dict[int, tuple[socket.socket, dict]] = {}   # runc pid -> (client, request)
        self.inits: dict[int, tuple[str, str]] = {}             # init pid -> (id, exit_path)
        self.by_id: dict[str, int] = {}                          # id -> init pid
        self.waiters: dict[str, list[socket.socket]] = {}
        self.orphans: dict[int, tuple[int, float]] = {}         # reaped pid -> (status, when)
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake = r
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)   # the daemon's terminal or death is not ours
        self.sel.register(self.listener, selectors.EVENT_READ, self._accept)
        self.sel.register(r, selectors.EVENT_READ, self._sigchld)

    # -- connections ---------------------------------------------------------
    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        # Why: a request runs a program as root.  The socket is 0600 already;
        # its peer must also be this user (root), whatever its mode becomes.
        cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        if int.from_bytes(cred[4:8], sys.byteorder) != os.getuid():
            conn.close()
            return
        conn.setblocking(False)
        self.sel.register(conn, selectors.EVENT_READ, lambda: self._readable(conn))

    def _drop(self, conn: socket.socket) -> None:
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        self.holds.discard(conn)
        conn.close()

    def _reply(self, conn: socket.socket, msg: dict, fds: list[int] = ()) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(2)   # a daemon that does not read is left behind
            socket.send_fds(conn, [json.dumps(msg).encode()], list(fds))
        except OSError:
            pass
        if conn not in self.holds:
            self._drop(conn)

    def _readable(self, conn: socket.socket) -> None:
        try:
            data, anc, _flags, _ = conn.recvmsg(
                MAX_MSG, socket.CMSG_SPACE(MAX_FDS * 4), socket.MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return
        except OSError:
            data, anc = b"", []
        fds = []
        for level, typ, payload in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                n = len(payload) - len(payload) % 4
                fds += [int.from_bytes(payload[i:i + 4], sys.byteorder) for i in range(0, n, 4)]
        if not data:
            for fd in fds:
                os.close(fd)
            self._drop(conn)
            self._maybe_exit()
            return
        try:
            req = json.loads(data)
            op = req["op"]
            if op in ("run", "wait"):   # checked before anything is done
                str(req["id"]), str(req["exit_path"])
            if op == "run":
                list(req["argv"])[0], str(req["pid_file"])
        except (ValueError, KeyError, TypeError, IndexError):
            req, op = {}, None
        try:
            if op == "hello":
                self.holds.add(conn)   # held for the daemon's lifetime: its EOF counts
                self._reply(conn, {"ok": True, "proto": PROTO, "pid": os.getpid()})
            elif op == "run" and len(fds) >= 3:
                self.sel.unregister(conn)
                self._run(conn, req, fds)
            elif op == "wait":
                self.sel.unregister(conn)
                self._wait(conn, str(req["id"]), str(req["exit_path"]))
            else:
                self._reply(conn, {"ok": False, "error": f"bad request {op!r}"})
        finally:
            for fd in fds:
                os.close(fd)

    # -- requests ----------------------------------------------------------
    def _run(self, conn: socket.socket, req: dict, fds: list[int]) -> None:
        # Moved above any target number first, so that no dup2 of the list
        # overwrites a source still to be moved.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
        fa = [(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate(high)]
        try:
            os.unlink(req["exit_path"])   # a record of a previous run of the container
        except FileNotFoundError:
            pass
        try:
            pid = os.posix_spawn(req["argv"][0], req["argv"], os.environ, file_actions=fa,
                                 setsid=False, resetids=False)
        except OSError as e:
            self._reply(conn, {"ok": False, "rc": 127, "error": str(e)})
            return
        finally:
            for fd in high:
                os.close(fd)
        self.runs[pid] = (conn, req)

    def _wait(self, conn: socket.socket, cid: str, exit_path: str) -> None:
        if cid in self.by_id:
            self.waiters.setdefault(cid, []).append(conn)
            return
        rec = read_record(exit_path)
        self._reply(conn, rec if rec is not None else {"unknown": True})

    # -- children ------------------------------------------------------------
    def _sigchld(self) -> None:
        try:
            while os.read(self.wake, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.runs:
                self._run_done(pid, status)
            elif pid in self.inits:
                self._record(pid, status)
            else:   # an init reaped before its runc reported, or a stray orphan
                self.orphans[pid] = (status, time.monotonic())
        now = time.monotonic()
        for pid, (_s, when) in list(self.orphans.items()):
            if now - when > ORPHAN_TTL:
                del self.orphans[pid]
        self._maybe_exit()

    def _run_done(self, runc_pid: int, status: int) -> None:
        conn, req = self.runs.pop(runc_pid)
        rc = exit_code(status)
        try:
            with open(req["pid_file"]) as f:
                pid = int(f.read().strip()) if rc == 0 else 0
        except (OSError, ValueError):
            pid = 0
        if not pid:
            self._reply(conn, {"ok": False, "rc": rc or 1})
            return
        self.inits[pid] = (str(req["id"]), str(req["exit_path"]))
        self.by_id[str(req["id"])] = pid
        pidfd = None
        if pid in self.orphans:
            self._record(pid, self.orphans.pop(pid)[0])
        elif not is_child(pid):
            # Its status went to another reaper: the program named as runc waited for
            # its own child before exiting (runc never does; a wrapper script may).
            # Waiting for it would wait for ever (and keep this supervisor alive), so
            # its exit is recorded now with the code of an unknown status.
            print(f"init {pid} of {str(req['id'])[:12]} was reaped by its launcher: "
                  f"exit code unknown (255)", file=sys.stderr, flush=True)
            self._record(pid, LOST_STATUS)
        else:
            # The init is our unreaped child (alive or a zombie): its pid
            # cannot be recycled yet, so this pidfd names it for sure.
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                pidfd = None
        try:
            self._reply(conn, {"ok": True, "pid": pid}, [pidfd] if pidfd is not None else [])
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _record(self, pid: int, status: int) -> None:
        cid, exit_path = self.inits.pop(pid)
        if self.by_id.get(cid) == pid:
            del self.by_id[cid]
        rec = {"code": exit_code(status), "finished_at": rfc3339(time.time()), "pid": pid}
        try:
            write_record(exit_path, rec)
        except OSError as e:   # the bundle is gone (container removed): nobody needs it
            print(f"exit record of {cid[:12]} not written: {e}", file=sys.stderr, flush=True)
        for conn in self.waiters.pop(cid, []):
            self._reply(conn, rec)

    def _maybe_exit(self) -> None:
        if self.holds or self.runs or self.inits or self.waiters:
            return
        try:   # unless a new supervisor has bound a new socket there
            if os.stat(self.sock_path).st_ino == self.sock_ino:
                os.unlink(self.sock_path)
        except OSError:
            pass
        sys.exit(0)

    def run(self) -> None:
        """Serve until idle (see _maybe_exit)."""
        while True:
            for key, _mask in self.sel.select():
                try:
                    key.data()
                except (OSError, ValueError, KeyError, TypeError) as e:
                    # One bad request or a vanished peer must not end the
                    # reaper of every container: logged, and served on.
                    print(f"boxnet-supervisor: {type(e).__name__}: {e}", file=sys.stderr,
                          flush=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: `python -S supervisor.py --listen-fd N --sock-path P`."""
    # Parsed by hand: argparse alone would add ~0.8 MiB Pss to a process
    # that lives as long as any container (measured, bench scenario supervisor).
    args = sys.argv[1:] if argv is None else argv
    opts = dict(zip(args[::2], args[1::2]))
    if len(args) != 4 or set(opts) != {"--listen-fd", "--sock-path"}:
        raise SystemExit("usage: supervisor.py --listen-fd N --sock-path PATH")
    os.chdir("/")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    Supervisor(int(opts["--listen-fd"]), opts["--sock-path"]).run()


if __name__ == "__main__":
    main()
