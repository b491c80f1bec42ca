"""Benchmark sweeps: algorithms x environments x seeds, on local processes or Ray, with honest statistics.

- ``sweep``:    ``SweepSpec`` (validated input, CLI or TOML file) and its ``Cell`` s.
- ``runners``:  per-family adapters, algorithm name -> run(env_id, seed, budget) -> record.
- ``records``:  ``runs.jsonl``, appended one fsynced line per finished cell; resume reads it back.
- ``backends``: local process pool and Ray; ``run_sweep`` ties everything together.
- ``stats``:    mean, std, IQM with bootstrap CIs, solve rate, steps to threshold (scipy.stats).
- ``report``, ``plots``: summary.csv, report.md and the figures.
- ``cli``:      ``tinygrad-rl benchmark`` (also ``python -m algorithms.benchmark``).
"""
import importlib

# Resolved on first use (PEP 562), not at import: the statistics need scipy (the ``stats``
# extra), and the ``tinygrad-rl`` CLI imports this package to register its subcommand, so
# ``tinygrad-rl train`` must work on an install without scipy.
_EXPORTS = {
    "BACKENDS": "backends", "BackendError": "backends", "SweepResult": "backends", "run_sweep": "backends",
    "ALGORITHMS": "runners", "run_cell": "runners", "solve_threshold": "runners",
    "Cell": "sweep", "SweepError": "sweep", "SweepSpec": "sweep", "load_sweep_file": "sweep",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"algorithms.benchmark.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'algorithms.benchmark' has no attribute {name!r}")
