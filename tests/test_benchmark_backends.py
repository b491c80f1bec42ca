"""The same sweep on every backend gives the same records, number for number.

A tiny sweep (2 algorithms x 2 envs x 2 seeds) runs in this process, on the local process pool
and on a local Ray started for the run; everything in the records except wall time must match.
CI installs the ``ray`` extra, so there the Ray part must run (it is skipped only outside CI
when Ray is not installed).
"""
import importlib.util
import os

import pytest

from algorithms.benchmark.backends import run_sweep
from algorithms.benchmark.plots import FIGURES
from algorithms.benchmark.records import RUNS_FILE, comparable, latest_by_cell, load_records
from algorithms.benchmark.sweep import SweepSpec

pytestmark = pytest.mark.xdist_group("benchmark_backends")   # the in-process sweep runs once, on one worker

SPEC = SweepSpec.build(algorithms="q_learning,expected_sarsa", envs="FrozenLake-v1,CliffWalking-v1",
                       seeds=2, budget=30)


def _records(out_dir):
    return {key: comparable(record) for key, record in latest_by_cell(load_records(out_dir / RUNS_FILE)).items()}


@pytest.fixture(scope="module")
def in_process_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    result = run_sweep(SPEC, out, backend="local", workers=1, progress=False, figures=False)
    assert (result.cells, result.ran, result.failed) == (8, 8, [])
    return _records(out)


def test_local_process_pool_matches_in_process_run_and_writes_every_output(tmp_path, in_process_records):
    result = run_sweep(SPEC, tmp_path, backend="local", workers=2, progress=False)
    assert (result.ran, result.failed) == (8, [])
    records = _records(tmp_path)
    assert records == in_process_records
    assert all(record["status"] == "ok" and len(record["episode_returns"]) == 30 for record in records.values())
    for name in ("summary.csv", "report.md") + FIGURES:
        assert (tmp_path / name).stat().st_size > 0, name
    report = (tmp_path / "report.md").read_text()
    assert all(f"({name})" in report for name in FIGURES)


def test_ray_backend_matches_local_records(tmp_path, in_process_records):
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("CI"):
            pytest.fail('Ray is not installed in CI; the CI line must install the extra: pip install -e ".[test,ray]"')
        pytest.skip('Ray not installed (pip install -e ".[ray]")')
    result = run_sweep(SPEC, tmp_path, backend="ray", workers=2, progress=False, figures=False)
    assert (result.ran, result.failed) == (8, [])
    assert _records(tmp_path) == in_process_records
