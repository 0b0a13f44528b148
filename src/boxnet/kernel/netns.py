"""Network namespaces: create and pin them, delete them, run code inside them.

Python 3.11 has no ``os.setns``/``os.unshare``, so this module calls libc
through ctypes. Namespace switches only ever happen in worker threads: the
netns is a per-thread attribute on Linux, so the daemon's event-loop thread
keeps its own netns ("the host", whatever netns the daemon was started in,
never assumed to be the root netns).

A pinned netns is a bind mount of ``/proc/thread-self/ns/net`` on a file
(like ``ip netns add``); it lives as long as the mount, even with no process
inside.  A pin lives in one mount namespace: a daemon run in a private one
(systemd's ``PrivateMounts=``) loses its pins when it dies, while the
namespaces live on in the containers' processes; ``repin_from_process``
pins them again from ``/proc/PID/ns/net``, checked by inode.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import queue
import threading
from typing import Any, Callable

from boxnet.errors import KernelError

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 2
NSFS_MAGIC = 0x6E736673

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


def _oserror(what: str, path: str = "") -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}", path or None)


def setns_fd(fd: int) -> None:
    """setns(2) the CALLING THREAD into the network namespace open at ``fd``."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise _oserror("setns")


def _setns_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns_fd(fd)
    finally:
        os.close(fd)


class _NsWorker:
    """One long-lived thread that hops into a netns, runs a function, hops back.

    Measured here: a thread per call costs ~190 us; this reusable thread,
    two setns(2) calls and the hand-offs cost ~20 us. If hopping back
    ever fails, the thread is retired (it would otherwise run the next job in
    a foreign netns) and a new one is started.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Between jobs the worker sits in the process's (main thread's) netns;
        # holding another (e.g. a caller's test netns) would keep it alive.
        self._home_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                # A replacement thread takes over the same queue: no job is lost.
                self._thread = threading.Thread(
                    target=self._loop, args=(self._jobs,), name="boxnet-netns", daemon=True)
                self._thread.start()

    def _loop(self, jobs: queue.SimpleQueue) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            path, fn, args, kw, done = job
            try:
                _setns_path(path)
            except BaseException as e:  # noqa: BLE001 - reported to the caller
                done(None, e)
                continue
            try:
                result, error = fn(*args, **kw), None
            except BaseException as e:  # noqa: BLE001
                result, error = None, e
            try:
                setns_fd(self._home_fd)
            except OSError as e:
                done(None, KernelError(f"cannot return worker thread to its netns: {e}"))
                return  # retire this thread: it is stranded in a foreign netns
            done(result, error)

    def submit(self, path: str, fn: Callable, args: tuple, kw: dict,
               done: Callable[[Any, BaseException | None], None]) -> None:
        if threading.current_thread() is self._thread:
            # Called from a job: queueing would deadlock, use a one-off thread
            # (it needs no hop back: it exits when done).
            threading.Thread(target=_one_off, args=(path, fn, args, kw, done)).start()
            return
        self._ensure_thread()
        self._jobs.put((path, fn, args, kw, done))


def _one_off(path: str, fn: Callable, args: tuple, kw: dict, done: Callable) -> None:
    try:
        _setns_path(path)
        result = fn(*args, **kw)
    except BaseException as e:  # noqa: BLE001 - reported to the caller
        done(None, e)
    else:
        done(result, None)


_worker: _NsWorker | None = None
_worker_lock = threading.Lock()


def _get_worker() -> _NsWorker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = _NsWorker()
        return _worker


def run_in_netns(path: str, fn: Callable, *args: Any, **kw: Any) -> Any:
    """Run sync ``fn(*args, **kw)`` in a thread setns'd into ``path``; return its result.

    Sockets made by ``fn`` belong to that netns for their whole life. The
    calling thread's netns is never changed. Jobs run one at a time on one
    worker thread, so ``fn`` must be short and must not block.
    """
    box: dict = {}
    ev = threading.Event()

    def done(result: Any, error: BaseException | None) -> None:
        box["r"], box["e"] = result, error
        ev.set()

    _get_worker().submit(path, fn, args, kw, done)
    ev.wait()
    if box["e"] is not None:
        raise box["e"]
    return box["r"]


async def arun_in_netns(path: str, fn: Callable, *args: Any, **kw: Any) -> Any:
    """Async variant of :func:`run_in_netns`: awaits the result without blocking the loop."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    def done(result: Any, error: BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop was closed meanwhile: nobody waits
            pass

    _get_worker().submit(path, fn, args, kw, done)
    return await fut


def _unshare_and_pin(path: str, box: dict) -> None:
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise _oserror("unshare(CLONE_NEWNET)")
        src = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        if _libc.mount(src, path.encode(), b"none", MS_BIND, None) != 0:
            raise _oserror("bind mount netns", path)
    except BaseException as e:  # noqa: BLE001
        box["e"] = e


def create_netns(path: str) -> None:
    """Create a new network namespace pinned by a bind mount at ``path``.

    The parent directory and the file are created. The unshare happens in a
    short-lived thread that then exits, so no thread of the caller changes
    netns. Raises KernelError if ``path`` already holds a live netns.
    """
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    os.makedirs(directory, exist_ok=True)
    if netns_exists(path):
        raise KernelError(f"network namespace {path} already exists")
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
    os.close(fd)
    box: dict = {}
    # A fresh thread: after unshare it is in the new netns and simply exits.
    t = threading.Thread(target=_unshare_and_pin, args=(path, box), name="boxnet-unshare")
    t.start()
    t.join()
    if "e" in box:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise KernelError(f"cannot create network namespace {path}: {box['e']}")


def delete_netns(path: str) -> None:
    """Unmount (MNT_DETACH) and unlink the pinned netns at ``path``; no error if absent."""
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise KernelError(f"cannot unmount network namespace {path}: {os.strerror(err)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise KernelError(f"cannot remove network namespace file {path}: {e}") from e


def netns_exists(path: str) -> bool:
    """True if ``path`` is a live pinned netns (an nsfs bind mount)."""
    # Every namespace file lives on the one nsfs pseudo filesystem: a plain
    # file that is not bind-mounted over has another st_dev.
    try:
        return os.stat(path).st_dev == os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return False


def netns_identity(path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the network namespace at ``path`` (a pin or a
    ``/proc/PID/ns/net``), None when there is no namespace there.

    The inode names one namespace for its whole life (nsfs gives each its
    own); recorded at create, it tells the same namespace from another one
    found later at the same path or in a recycled process."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_dev != os.stat("/proc/self/ns/net").st_dev:
        return None   # a plain file: no namespace is bind-mounted over it
    return st.st_dev, st.st_ino


class RepinRefused(KernelError):
    """The namespace of a process could not be re-pinned: the process is not
    the recorded one, or its namespace is not the recorded namespace."""


def repin_from_process(path: str, pid: int, still_same: Callable[[], bool],
                       expect: tuple[int, int] | None) -> tuple[int, int]:
    """Pin at ``path`` again the network namespace the living process ``pid``
    is in (its pin vanished, e.g. with the private mount namespace of a
    daemon that died); return the namespace's (st_dev, st_ino).

    ``still_same()`` says whether ``pid`` is still the recorded process (its
    start time, kernel/procid.py).  It is asked before and after the
    namespace is opened: if the process died and its PID was reused in
    between, the second answer is no and nothing is pinned.  The namespace
    opened must be ``expect`` (the one recorded at create; None: any
    namespace but the daemon's own).  A pin already at ``path`` is kept if
    it is that namespace.  Raises RepinRefused (nothing changed) otherwise."""
    if not still_same():
        raise RepinRefused(f"process {pid} is not the recorded one")
    try:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise RepinRefused(f"cannot open the netns of process {pid}: {e}") from None
    try:
        if not still_same():   # died and recycled while we opened it
            raise RepinRefused(f"process {pid} is not the recorded one")
        st = os.fstat(fd)
        found = (st.st_dev, st.st_ino)
        home = os.stat("/proc/self/ns/net")
        if expect is not None and found != expect:
            raise RepinRefused(f"process {pid} is in netns inode {found[1]}, "
                               f"not the recorded {expect[1]}")
        if found == (home.st_dev, home.st_ino):
            raise RepinRefused(f"process {pid} is in the daemon's own netns")
        pinned = netns_identity(path)
        if pinned is not None:
            if pinned != found:
                raise RepinRefused(f"{path} already pins another netns")
            return found
        os.makedirs(os.path.dirname(os.path.abspath(path)) or "/", exist_ok=True)
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444))
        # The open fd, not /proc/PID/ns/net again: that path could name a
        # recycled PID's namespace by now; the fd is the one checked above.
        src = f"/proc/self/fd/{fd}".encode()
        if _libc.mount(src, path.encode(), b"none", MS_BIND, None) != 0:
            raise KernelError(f"cannot pin the netns of process {pid}: "
                              f"{_oserror('bind mount netns', path)}")
        if netns_identity(path) != found:
            delete_netns(path)
            raise KernelError(f"pinning the netns of process {pid} at {path} failed")
        return found
    finally:
        os.close(fd)


def list_pinned(directory: str) -> list[str]:
    """Paths of the pinned netns files in ``directory`` (sorted; [] if no such dir)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(p for p in (os.path.join(directory, n) for n in names) if netns_exists(p))


def list_unpinned(directory: str) -> list[str]:
    """Paths of the plain files in ``directory`` that pin nothing (sorted).

    What a pin leaves when its mount vanished with a private mount namespace:
    the file the namespace was bind-mounted on."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(p for p in (os.path.join(directory, n) for n in names)
                  if os.path.isfile(p) and not os.path.islink(p) and not netns_exists(p))
