"""Reproduce the committed tabular comparison (docs/benchmark/tabular/report.md).

Q-learning, SARSA, Expected SARSA and Monte Carlo control on FrozenLake-v1, CliffWalking and
Taxi, 10 seeds each, from the sweep file docs/benchmark/tabular.toml:

    python scripts/benchmark_tabular.py                       # local process pool, all cores
    python scripts/benchmark_tabular.py --backend ray         # the same on a local Ray
    python scripts/benchmark_tabular.py --out runs/tabular    # somewhere else

Any other ``tinygrad-rl benchmark`` option (--workers, --address, --no-progress) passes through.
Rerunning resumes: finished runs in OUT/runs.jsonl are kept and skipped.
"""
import sys
from pathlib import Path

from algorithms.benchmark.cli import main

REPO = Path(__file__).resolve().parent.parent
SWEEP_FILE = REPO / "docs" / "benchmark" / "tabular.toml"
DEFAULT_OUT = REPO / "docs" / "benchmark" / "tabular"

if __name__ == "__main__":
    extra = sys.argv[1:]
    out = [] if "--out" in extra else ["--out", str(DEFAULT_OUT)]
    sys.exit(main(["--sweep", str(SWEEP_FILE), *out, *extra]))
