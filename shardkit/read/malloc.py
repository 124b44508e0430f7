"""An explicit, process-wide allocator choice for readers: keep batch-sized buffers on glibc's heap.

A batch of 3 s chunks is tens of MB. Above glibc's mmap threshold every such buffer is a fresh
mapping, so each batch pays page faults for memory it has just given back (TensorFlow's
generator op also lowers the trim threshold to 128 kB). Measured on a 2-core VM, those faults
cost as much CPU as the reader itself: tuning roughly doubles the reader's throughput there.

`keep_large_buffers_on_the_heap` raises the mmap and trim thresholds for the whole process
(like ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``) and caps malloc arenas at two:
freed memory is reused instead of returned, and RSS stays flat at its working size. It changes
the process, not the reader, so it is a choice: `ShardReader` makes it when
``ReaderConfig.tune_malloc`` is true (the default) as its dataset starts and again as each
fixed-batching epoch starts (TensorFlow's generator op resets the trim threshold); pass
``tune_malloc=False`` to leave the allocator alone. Measure the effect on a machine with
``python tools/bench_reader.py --no-tune-malloc`` against a run without the flag.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

#: allocations above this are served by mmap (glibc's default: 128 kB, adjusted dynamically)
MMAP_THRESHOLD_BYTES = 64 << 20
#: free memory at the top of the heap above this is returned to the system (default: 128 kB)
TRIM_THRESHOLD_BYTES = 256 << 20
#: malloc arenas: with many allocating threads, per-thread arenas each keeping freed buffers
#: would grow RSS epoch after epoch
ARENA_MAX = 2
#: mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8

_applied = False


def keep_large_buffers_on_the_heap() -> bool:
    """Set `ARENA_MAX`, `MMAP_THRESHOLD_BYTES` and `TRIM_THRESHOLD_BYTES` for this process (glibc only).

    Returns:
        Whether the settings were applied (False off glibc).
    """
    global _applied
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    applied = bool(
        libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
        and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    if applied and not _applied:
        log.debug(
            "glibc malloc: %d arenas, mmap threshold %d B, trim threshold %d B (ReaderConfig.tune_malloc)",
            ARENA_MAX,
            MMAP_THRESHOLD_BYTES,
            TRIM_THRESHOLD_BYTES,
        )
    _applied = _applied or applied
    return applied


def malloc_tuned() -> bool:
    """Whether `keep_large_buffers_on_the_heap` has been applied in this process."""
    return _applied
