"""The C allocator set up for a search process: a search's large temporary arrays reuse memory
the last search freed instead of fresh pages from the kernel.

glibc serves an allocation over its mmap threshold (128 KB at start, raised to the largest
mapped chunk freed since) with a new mapping, whose pages fault on first touch and return to the
kernel on free. At a million passages a search's temporaries are megabytes each (a float64
score or an int32 date per passage): with them mapped afresh, ordering a million passages by
date took 22 ms where the same call on reused heap memory took 8.7 ms (measured in one process,
alternated; which threshold a worker ends up with depends on what it happened to free first).
Fixed thresholds keep such arrays in the heap, and freed heap memory is kept for the next search
up to TRIM_THRESHOLD. What it costs: a process returns less of its freed memory to the kernel
(its peak is unchanged: memory kept was in use before). A syncer that opened an engine for
alerts passes the settings on to the builders it forks; their peaks are unchanged too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# The largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2): arrays up to 32 MB
# (four million float64s) come from the heap.
MMAP_THRESHOLD = 32 * 2**20
# Freed heap kept by the process, not returned to the kernel: a few searches' temporaries.
TRIM_THRESHOLD = 256 * 2**20
# A user's own tuning of the allocator wins over ours.
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

_lock = threading.Lock()
_tuned: bool | None = None


def tune_allocator() -> bool:
    """Set glibc's mmap and trim thresholds once per process; False where the C library is
    not glibc or the user tuned it through the environment."""
    global _tuned
    with _lock:
        if _tuned is None:
            _tuned = _set_thresholds()
        return _tuned


def _set_thresholds() -> bool:
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt answers 1 on success.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
