"""Keep every libnftables context's netlink socket below FD_SETSIZE (1024).

Why: libnftables 1.0.6 waits for the kernel's answers with select(2) on its
socket (mnl_batch_talk), and glibc's fortified FD_SET aborts the whole
process ("bit out of range 0 - FD_SETSIZE on fd_set") when that descriptor is
1024 or more.  A daemon with ~110 containers holds more than 1024
descriptors (netns, pidfds, log pipes, resolver sockets), and each context
made then (the per-container DNS redirect's, a late listing context) got a
descriptor above the limit: boxnetd died at its first nft command there
(bench scenario 2, 1000 containers; reproduced with 1100 descriptors held).

How: a few low descriptor numbers are reserved while the process is young
(opened on /dev/null when this module is imported, at daemon start).  A new
context whose socket is at 1024 or more has it moved onto a reserved number
(dup2 replaces the placeholder atomically) and its libmnl socket told the new
number; before the context is freed the placeholder goes back onto that
number, so libnftables closes a copy and the reservation survives.  The
socket is found through the context's first member (``struct mnl_socket
*nf_sock`` in nftables 1.0.6, whose first member is the descriptor: libmnl's
``mnl_socket_get_fd``), and checked to be a netfilter netlink socket before
anything is written; libnftables 1.0.6 opens it in nft_ctx_new and never
reopens it (nft_mnl_socket_reopen went in 0.9.9).
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from boxnet.errors import KernelError

FD_SETSIZE = 1024
RESERVED = 8          # contexts alive at once with a relocated socket (each `with Nft()`
                      # gives its number back; the daemon's long-lived ones are made early)
NETLINK_NETFILTER = 12

_lock = threading.Lock()
_placeholder = -1     # /dev/null, the content of every free reserved number
_free: list[int] = []
_moved: dict[int, int] = {}   # context address -> the reserved number its socket is on
_libmnl = None


def _reserve() -> None:
    global _placeholder
    try:
        _placeholder = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        for _ in range(RESERVED):
            fd = os.dup(_placeholder)   # inheritable=False: O_CLOEXEC
            if fd >= FD_SETSIZE:
                os.close(fd)
                break
            _free.append(fd)
    except OSError:
        pass   # nothing reserved: relocate() then refuses clearly


def _mnl() -> ctypes.CDLL:
    global _libmnl
    if _libmnl is None:
        lib = ctypes.CDLL("libmnl.so.0")
        lib.mnl_socket_get_fd.restype = ctypes.c_int
        lib.mnl_socket_get_fd.argtypes = [ctypes.c_void_p]
        _libmnl = lib
    return _libmnl


def _nl_socket(ctx: int) -> tuple[int, int]:
    """(address of the context's struct mnl_socket, its descriptor)."""
    nl = ctypes.c_void_p.from_address(ctx).value
    if not nl:
        raise KernelError("libnftables context without a netlink socket")
    return nl, _mnl().mnl_socket_get_fd(nl)


def _is_netfilter_socket(fd: int) -> bool:
    try:
        s = socket.socket(fileno=fd)
    except OSError:
        return False
    try:
        return s.family == socket.AF_NETLINK and s.proto == NETLINK_NETFILTER
    finally:
        s.detach()


def relocate(ctx: int) -> None:
    """Move the socket of new context ``ctx`` below FD_SETSIZE if it is not already;
    KernelError (the caller frees the context) if that cannot be done."""
    nl, fd = _nl_socket(ctx)
    if 0 <= fd < FD_SETSIZE:
        return
    if not _is_netfilter_socket(fd):
        raise KernelError(f"libnftables' socket not found where nftables 1.0.6 keeps it "
                          f"(descriptor {fd}): cannot keep it below {FD_SETSIZE}")
    with _lock:
        if not _free:
            raise KernelError(f"the daemon holds more than {FD_SETSIZE} descriptors and its "
                              f"{RESERVED} low ones for nftables are in use: try again")
        low = _free.pop()
        os.dup2(fd, low, inheritable=False)
        ctypes.c_int.from_address(nl).value = low
        os.close(fd)
        _moved[ctx] = low


def release(ctx: int) -> None:
    """Before ``nft_ctx_free(ctx)``: give a relocated socket's reserved number back
    (libnftables then closes a copy of the socket)."""
    with _lock:
        low = _moved.pop(ctx, None)
        if low is None:
            return
        nl, _ = _nl_socket(ctx)
        copy = os.dup(low)
        ctypes.c_int.from_address(nl).value = copy
        os.dup2(_placeholder, low, inheritable=False)
        _free.append(low)


def reserved() -> int:
    """How many reserved numbers are free now (for tests)."""
    with _lock:
        return len(_free)


_reserve()
