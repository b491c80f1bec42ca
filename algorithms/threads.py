"""Run training with one BLAS thread.

The networks here are small (a few hundred units, batches of 64-256): a matrix product takes
tens of microseconds, less than it costs OpenBLAS to wake and synchronise a second thread.
Measured on the 2-core development machine while it was loaded (load average about 7),
a 4-256-256-2 DQN update took 1.4 ms with one BLAS thread and 9.5 ms with two
(``python scripts/bench_engine.py`` pins one thread for all contenders for the same reason).
``threadpoolctl`` limits the thread pool for the duration of a call only, so a user's own
NumPy work outside training keeps its settings. Finding the loaded BLAS libraries costs about
0.3 ms, so it is done once (at the first call) and each call only sets and restores the limit
(microseconds): cheap enough for a planner to limit every action it computes.
"""
from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController

__all__ = ["single_blas_thread"]

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
