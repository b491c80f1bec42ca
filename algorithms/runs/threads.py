"""Process settings for training: one BLAS thread, and large arrays from the heap.

The networks here are small (a few hundred units, batches of 64-256): a matrix product takes
tens of microseconds, less than it costs OpenBLAS to wake and synchronise a second thread.
Measured on the 2-core development machine while it was loaded (load average about 7),
a 4-256-256-2 DQN update took 1.4 ms with one BLAS thread and 9.5 ms with two
(``python scripts/bench_engine.py`` pins one thread for all contenders for the same reason).
``threadpoolctl`` limits the thread pool for the duration of a call only, so a user's own
NumPy work outside training keeps its settings. Finding the loaded BLAS libraries costs about
0.3 ms, so it is done once (at the first call) and each call only sets and restores the limit
(microseconds): cheap enough for a planner to limit every action it computes.

:func:`reuse_freed_memory` keeps glibc's malloc from handing every large array back to the kernel
(see its docstring): an update allocates and frees the same few hundred arrays every time.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

from threadpoolctl import ThreadpoolController

__all__ = ["single_blas_thread", "reuse_freed_memory"]

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024      # the largest glibc accepts on 64-bit systems
_TRIM_THRESHOLD = 256 * 1024 * 1024
_applied = False


def reuse_freed_memory() -> bool:
    """Ask glibc's malloc to serve arrays of up to 32 MB from its heap and to keep up to 256 MB
    of freed memory there (``mallopt(M_MMAP_THRESHOLD)``, ``mallopt(M_TRIM_THRESHOLD)``).

    By default each allocation of 128 KB or more (a (256, 256) float32 activation or gradient is
    256 KB) is mapped fresh from the kernel and unmapped when freed, so every update page-faults
    on every large array again. Measured on a SAC update ([256, 256], batch 256): 580 page faults
    and 1.1 ms of system time per update before, none after; SAC on Pendulum went from 85 to
    95 env steps/s. The setting is process-wide and stays (the process keeps the memory it has
    freed, up to the trim threshold, instead of returning it). Where the C library has no
    ``mallopt`` (not glibc) nothing changes. Returns whether the setting is in effect.
    """
    global _applied
    if not _applied:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
            _applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                            and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
        except (OSError, AttributeError, TypeError):
            _applied = False
    return _applied


_controller: ThreadpoolController | None = None


def _blas_controller() -> ThreadpoolController:
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def single_blas_thread(fn):
    """Decorator: call ``fn`` with the BLAS thread pool limited to one thread."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with _blas_controller().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapped
