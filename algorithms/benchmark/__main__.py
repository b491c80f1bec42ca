"""``python -m algorithms.benchmark ...``: the ``tinygrad-rl benchmark`` command without the console script."""
import sys

from algorithms.benchmark.cli import main

sys.exit(main())
