"""`tinygrad-rl train ... --tensorboard`: event files that TensorBoard's own reader reads back as metrics.csv."""
import csv

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from algorithms.loops.metrics_log import MetricsLog
from algorithms.runs.cli import main
from algorithms.runs.tensorboard_log import ROW_TAGS, TERM_TAGS, TensorBoardSink


def read_events(logdir) -> dict:
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0})   # 0: keep every point
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def csv_column(rows, column):
    return [(int(r["env_step"]), float(r[column])) for r in rows if r[column] != ""]


@pytest.mark.parametrize("algo, extra, terms", [
    ("dqn", ["--set", "hidden=16", "--set", "learning_starts=100", "--set", "train_freq=50",
             "--set", "gradient_steps=2"], ["td"]),
    ("a2c", [], ["policy", "value", "entropy"]),
])
def test_event_files_hold_the_values_of_metrics_csv(algo, extra, terms, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", algo, "CartPole-v1", "--steps", "1200", "--out", str(run_dir), "--tensorboard",
                 "--set", "eval_every=400", "--set", "eval_episodes=2", "--no-progress", *extra]) == 0
    assert f"tensorboard --logdir {tmp_path}" in capsys.readouterr().out
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    events = read_events(run_dir)
    for column, tag in ROW_TAGS.items():
        expected = csv_column(rows, column)
        if not expected:
            assert tag not in events
            continue
        steps, values = zip(*events[tag])
        assert list(steps) == [s for s, _ in expected]
        np.testing.assert_allclose(values, [v for _, v in expected], rtol=1e-6, atol=1e-6)   # stored as float32
    assert len(events["eval/mean_return"]) == 3
    # the loss terms and the learning rate: the values of terms.csv
    with open(run_dir / "terms.csv") as f:
        term_rows = list(csv.DictReader(f))
    names = {r["term"] for r in term_rows}
    assert names >= {"total", "lr", *terms}
    for name in names:
        expected = [(int(r["env_step"]), float(r["value"])) for r in term_rows if r["term"] == name]
        steps, values = zip(*events[TERM_TAGS.get(name, f"loss/{name}")])
        assert list(steps) == [s for s, _ in expected]
        np.testing.assert_allclose(values, [v for _, v in expected], rtol=1e-5, atol=1e-6)   # csv rounds to 1e-6


def test_sink_names_terms_and_measures_speed(tmp_path):
    log = MetricsLog(sinks=[TensorBoardSink(tmp_path)])
    log.log_terms(10, {"total": 1.5, "td": 1.5, "lr": 1e-3})
    log.log(30, episode_return=5.0)                     # wall time ~0 s: too soon for a speed point
    log.sinks[0].on_row({"env_step": 2030, "wall_time": 2.0, "episode_return": 7.0})
    log.close()
    events = read_events(tmp_path)
    assert events["loss/td"] == [(10, 1.5)] and events["loss/total"] == [(10, 1.5)]
    assert events["optim/learning_rate"] == [(10, pytest.approx(1e-3))]
    assert events["train/episode_return"] == [(30, 5.0), (2030, 7.0)]
    assert events["perf/steps_per_second"] == [(2030, pytest.approx(1015.0))]
