"""``python -m algorithms`` runs the ``tinygrad-rl`` command line."""
import sys

from algorithms.cli import main

sys.exit(main())
