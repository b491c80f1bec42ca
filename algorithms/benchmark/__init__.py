"""Benchmark sweeps: algorithms x environments x seeds, on local processes or Ray, with honest statistics.

- ``sweep``:    ``SweepSpec`` (validated input, CLI or TOML file) and its ``Cell`` s.
- ``runners``:  per-family adapters, algorithm name -> run(env_id, seed, budget) -> record.
- ``records``:  ``runs.jsonl``, appended one fsynced line per finished cell; resume reads it back.
- ``backends``: local process pool and Ray; ``run_sweep`` ties everything together.
- ``stats``:    mean, std, IQM with bootstrap CIs, solve rate, steps to threshold (scipy.stats).
- ``report``, ``plots``: summary.csv, report.md and the figures.
- ``cli``:      ``tinygrad-rl benchmark`` (also ``python -m algorithms.benchmark``).
"""
from algorithms.benchmark.backends import BACKENDS, BackendError, SweepResult, run_sweep
from algorithms.benchmark.runners import ALGORITHMS, run_cell, solve_threshold
from algorithms.benchmark.sweep import Cell, SweepError, SweepSpec, load_sweep_file

__all__ = ["ALGORITHMS", "BACKENDS", "BackendError", "Cell", "SweepError", "SweepResult", "SweepSpec",
           "load_sweep_file", "run_cell", "run_sweep", "solve_threshold"]
