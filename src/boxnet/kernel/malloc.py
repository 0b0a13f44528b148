"""glibc malloc tuned for a long-lived daemon with a few worker threads.

Why: boxnetd's RSS grew by about 30 MiB per 1000 cycles of network create,
run, connect, disconnect, rm, network rm (bench/scenarios/churn.py) while
its Python heap (tracemalloc) grew by under 1 MiB: the memory was free but
kept by glibc.  Each worker thread (asyncio.to_thread: netns, sysctl and
deferred link deletions) gets a malloc arena of its own, and glibc's
mmap threshold rises to the size of the largest block freed (up to 32 MiB),
so 64 KiB netlink buffers and nft outputs went to those arenas, whose holes
are never given back.  A ``malloc_trim(0)`` brought the RSS back at once,
which is how the cause was found.  Fixed values stop both effects:

* at most ``ARENAS`` arenas (the GIL serialises the Python work anyway);
* blocks of ``MMAP_THRESHOLD`` and more are mmap'd (returned when freed),
  and that threshold no longer moves;
* free memory at the top of a heap beyond ``TRIM_THRESHOLD`` is returned.

Measured with 400 network create/rm cycles: +7 MiB before, +1 MiB after.

The threshold must stay above the blocks that hot paths allocate and free on
every call, or each of them costs an mmap, page faults on fresh zeroed pages
and an munmap: libnftables 1.0.6 callocs 128 KiB hash tables (8192 buckets)
for the chains, sets, objects and flowtables of every table on each cache
fill, i.e. on every ``add element`` (about 2.5 MiB per call with five tables
in the netns), and asyncio reads every netlink datagram into a 256 KiB
buffer.  At a 64 KiB threshold one five-element endpoint update took 2.0-2.4
ms of CPU instead of 0.45 ms (2026-12-07, the plugin bench's netns), on the
path of every connect, disconnect and network create.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 1024 * 1024   # above libnftables' 128 KiB and asyncio's 256 KiB blocks
TRIM_THRESHOLD = 2 * 1024 * 1024


def tune_for_daemon() -> bool:
    """Apply the settings above (call once, before worker threads start).

    False (and a debug line) where the C library is not glibc: nothing to tune.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError) as e:
        log.debug("malloc not tuned (no glibc mallopt: %s)", e)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = all(mallopt(param, value) == 1 for param, value in (
        (M_ARENA_MAX, ARENAS), (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD)))
    if not ok:
        log.warning("mallopt refused a setting: daemon RSS may grow under churn")
    return ok
