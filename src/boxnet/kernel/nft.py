"""nftables through libnftables (ctypes), no ``nft`` subprocess.

A script given to :meth:`Nft.run` is one netlink batch: the kernel applies
all of it or nothing (100 rules in ~4 ms, against ~20 ms through ``nft -f``).

Which netns the rules land in: libnftables talks to the kernel over a
netlink socket that belongs to the netns of the thread that opened it (the
context's socket, opened in ``nft_ctx_new`` on nftables 1.0.6 and reopened
after some errors). So:

* ``Nft()`` acts on the netns of the thread that creates it and must be used
  only from threads in that same netns (the daemon's own threads are);
* ``Nft(netns=path)`` creates the context and runs every command inside a
  worker thread setns'd into ``path``, so it is right whatever socket
  libnftables (re)opens, at ~0.1 ms extra per call.

Listings run on a second context of their own.  Why: on nftables 1.0.6 a
context that once listed a table (``list table inet boxnet``, as the firewall
watch and the resync do) keeps paying for it: every later transaction on it,
even one element added, costs ~1.2-3 ms of CPU instead of ~0.3 ms (measured in
the plugin bench's netns: the same 5-element update 0.3 ms on a context that
never listed, 1.3 ms after one table listing, 2.5-3 ms in a running daemon).
Those figures were taken under the daemon's old 64 KiB mmap threshold, which
by itself made every update cost 2-2.4 ms (kernel/malloc.py); they were not
measured again after it was raised, and the second context is kept.
"""

from __future__ import annotations

import ctypes
import json
import threading

from boxnet.errors import KernelError
from boxnet.kernel import netns as _netns
from boxnet.kernel import nftfd

NFT_CTX_DEFAULT = 0
NFT_CTX_OUTPUT_HANDLE = 1 << 3
NFT_CTX_OUTPUT_JSON = 1 << 4

_lib = None
_lib_lock = threading.Lock()


def _load() -> ctypes.CDLL:
    """Load libnftables.so.1 once; KernelError if the library is not installed."""
    global _lib
    with _lib_lock:
        if _lib is None:
            try:
                lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
            except OSError as e:
                raise KernelError(
                    f"libnftables.so.1 not found (install the Debian package libnftables1): {e}"
                ) from e
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_output_get_flags.restype = ctypes.c_uint
            lib.nft_ctx_output_get_flags.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
            _lib = lib
        return _lib


def _listing(script: str) -> bool:
    """Whether every command of ``script`` is a ``list`` (it changes nothing)."""
    lines = [ln.strip() for ln in script.splitlines() if ln.strip()]
    return bool(lines) and all(ln.split(None, 1)[0] == "list" for ln in lines)


class Nft:
    """One libnftables context (one netlink socket) bound to one netns; thread-safe."""

    def __init__(self, netns: str | None = None):
        """Create the context in the caller's netns, or inside ``netns`` (a pinned path)."""
        self._netns = netns
        self._lock = threading.Lock()
        self._lib = _load()
        self._ctx = self._call(self._new_ctx)
        self._list_ctx = None    # listings' own context, made at the first one

    def _call(self, fn, *args):
        if self._netns is None:
            return fn(*args)
        try:
            return _netns.run_in_netns(self._netns, fn, *args)
        except OSError as e:
            raise KernelError(f"cannot enter network namespace {self._netns}: {e}") from e

    def _new_ctx(self) -> int:
        ctx = self._lib.nft_ctx_new(NFT_CTX_DEFAULT)
        if not ctx:
            raise KernelError("nft_ctx_new failed")
        try:
            nftfd.relocate(ctx)   # below FD_SETSIZE, or libnftables aborts us (nftfd.py)
        except BaseException:
            self._lib.nft_ctx_free(ctx)
            raise
        self._lib.nft_ctx_buffer_output(ctx)
        self._lib.nft_ctx_buffer_error(ctx)
        return ctx

    def _run(self, script: str, json_out: bool) -> str:
        lib, ctx = self._lib, self._ctx
        if _listing(script):
            if self._list_ctx is None:
                self._list_ctx = self._new_ctx()   # here: in the netns (see _call)
            ctx = self._list_ctx
        flags = lib.nft_ctx_output_get_flags(ctx)
        want = (flags | NFT_CTX_OUTPUT_JSON) if json_out else (flags & ~NFT_CTX_OUTPUT_JSON)
        if want != flags:
            lib.nft_ctx_output_set_flags(ctx, want)
        rc = lib.nft_run_cmd_from_buffer(ctx, script.encode())
        # Reading a buffer also resets it for the next command.
        out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")
        err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
        if rc != 0:
            raise KernelError("nftables refused the change: " + (err.strip() or f"rc={rc}"))
        return out

    def run(self, script: str) -> str:
        """Run a (multi-line) nft script as one atomic transaction; return nft's output.

        Raises KernelError with nft's error text on failure; then nothing of
        the script was applied.
        """
        with self._lock:
            if not self._ctx:
                raise KernelError("nftables context is closed")
            return self._call(self._run, script, False)

    def run_json(self, cmd: str) -> dict:
        """Run a command with JSON output (e.g. ``list table inet boxnet``); return it parsed."""
        with self._lock:
            if not self._ctx:
                raise KernelError("nftables context is closed")
            out = self._call(self._run, cmd, True)
        return json.loads(out) if out.strip() else {}

    def close(self) -> None:
        """Free the context (and its netlink socket)."""
        with self._lock:
            for ctx in (self._ctx, self._list_ctx):
                if ctx:
                    nftfd.release(ctx)
                    self._lib.nft_ctx_free(ctx)
            self._ctx = self._list_ctx = None

    def __enter__(self) -> "Nft":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except (AttributeError, TypeError):
            # An __init__ that failed before _lock/_ctx existed, or interpreter
            # shutdown having already cleared the module globals ctypes needs:
            # nothing is left to free (the process ends), and nothing can log.
            pass
