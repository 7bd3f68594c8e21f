"""Keep freed memory in the process: glibc's malloc otherwise maps and unmaps every multi-megabyte array.

The tile's hot path allocates arrays of a few MB per MVM (currents, codes, accumulators). glibc serves an allocation
above its mmap threshold with a fresh mmap and returns it with munmap when freed, so the kernel zero-fills every page
of every such array again: on the threads of a Dask worker (where the threshold does not adapt as on the main thread)
a drift study spent a third of its CPU time in the kernel this way (measured: 1-chip study on one worker, 30 s of
system time of 90 s; 2.5 s with the thresholds below). Raising the mmap threshold and the trim threshold keeps freed
blocks in malloc's heap for the next array. The cost is that the process's resident memory stays at its peak.

:func:`keep_freed_memory` is called once when model/tile.py is imported (every process that simulates tiles: the
command line, a Dask worker, a test); it does nothing where the C library is not glibc.
"""

import ctypes
import ctypes.util

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1      # mallopt parameters of glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20  # allocations above this still get their own mapping (returned at once when freed)
TRIM_THRESHOLD = 512 << 20  # free memory at the top of the heap beyond this is returned to the system

_done = False


def keep_freed_memory():
    """Set glibc's mmap and trim thresholds (once per process); returns whether they were set."""
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        return False
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
