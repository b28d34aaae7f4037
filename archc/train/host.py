"""The host as a training device: keep freed memory for the next step.

A CPU training step allocates and frees the same activation and gradient buffers every step.
glibc's malloc serves blocks this large with mmap and, once freed, hands their pages back to the
kernel, so every step page-faults them in again and the kernel zeroes each page (lenet_bn at
batch 256: about 2,000 faults and 5-11 ms of system time per step on the development machine,
BENCHMARKS.md). Raising the mmap and trim thresholds keeps those blocks in the heap for reuse, as
the allocators PyTorch's CPU performance guide recommends (jemalloc, tcmalloc) do. The cost is
that the process keeps its peak memory; nothing is computed differently.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap and stay there when freed

_done = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed blocks instead of returning them (once per process);
    False where that is not possible (not glibc, not Linux)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, THRESHOLD))
    return _done
