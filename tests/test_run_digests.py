"""A move is not a change: seeded short runs of every registered algorithm write the same numbers.

``scripts/record_run_digests.py`` holds the runs (every algorithm in the registry, 2,000 env steps,
seed 0) and reduces each run folder to digests of its weights, metrics, loss terms and evaluation
(wall-clock columns aside). The digests in ``tests/data/run_digests.json`` were recorded on the
eager engine; restructuring the engine or the package must reproduce them bit for bit.
"""
from __future__ import annotations

import importlib.util
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from algorithms.registry import algorithm_names

pytestmark = pytest.mark.xdist_group("run_digests")   # every algorithm's seeded run is trained once, on one worker

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "record_run_digests.py"
_spec = importlib.util.spec_from_file_location("record_run_digests", SCRIPT)
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)

STORED = json.loads(record.DIGEST_FILE.read_text())


def test_every_registered_algorithm_has_a_recorded_run():
    recorded = {algo for algo, _, _ in record.RUNS}
    assert set(algorithm_names()) <= recorded
    assert set(STORED["runs"]) == {record.run_key(a, e) for a, e, _ in record.RUNS}
    assert (STORED["steps"], STORED["seed"]) == (record.STEPS, record.SEED)


@pytest.fixture(scope="module")
def fresh_digests(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("digest_runs")
    with ThreadPoolExecutor(max_workers=2) as pool:   # each run is its own process: two at a time
        futures = {record.run_key(a, e): pool.submit(record.digest_run, a, e, workdir, sets)
                   for a, e, sets in record.RUNS}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("key", [record.run_key(a, e) for a, e, _ in record.RUNS])
def test_seeded_run_writes_the_recorded_numbers(fresh_digests, key):
    assert fresh_digests[key] == STORED["runs"][key]


def test_digest_sees_a_changed_weight(tmp_path):
    np.savez(tmp_path / "a.npz", w=np.zeros(3, np.float32))
    np.savez(tmp_path / "b.npz", w=np.array([0, 0, 1e-7], np.float32))
    assert record.digest_npz(tmp_path / "a.npz") != record.digest_npz(tmp_path / "b.npz")
