"""``python -m algorithms`` runs the ``tinygrad-rl`` command line."""
import sys

from algorithms.runs.cli import main

sys.exit(main())
