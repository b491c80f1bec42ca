"""``python -m algorithms.benchmark ...``: the ``tinygrad-rl benchmark`` command without the console script."""
import os
import sys

# As ``tinygrad-rl`` does: single-threaded BLAS, set before NumPy is imported, so a cell run in
# this process (--workers 1) computes exactly what it computes in a worker process.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from algorithms.benchmark.cli import main  # noqa: E402

sys.exit(main())
