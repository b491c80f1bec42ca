"""`tinygrad-rl plot RUN ...`: seeds grouped into a mean and a bootstrap band, groups labelled by what differs."""
import csv
import json

import numpy as np
import pytest

from algorithms.loops.metrics_log import METRIC_COLUMNS
from algorithms.runs.cli import main
from algorithms.runs.compare_runs import bootstrap_mean_ci, group_runs, plot_runs, read_run
from algorithms.runs.plots import env_steps_label, label_env_steps, plt


def write_run(folder, algo="dqn", env_id="CartPole-v1", seed=0, lr=1e-3, level=100.0, episodes=60):
    """A run folder with a synthetic learning curve: returns rise linearly to ``level``."""
    folder.mkdir(parents=True)
    config = {"seed": seed, "lr": lr, "hidden": [64, 64], "total_steps": 6000}
    (folder / "config.json").write_text(json.dumps({"algo": algo, "env_id": env_id, "config": config}))
    rng = np.random.default_rng(seed)
    with open(folder / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        for i in range(1, episodes + 1):
            step = 100 * i + seed                        # seeds end their episodes at different steps
            writer.writerow({"env_step": step, "episode_return": level * i / episodes + rng.normal(0, 1),
                             "episode_length": 100, "loss": 1.0 / i})
            if i % 20 == 0:
                writer.writerow({"env_step": step, "eval_return": level * i / episodes})
    return folder


def test_seeds_group_and_the_differing_hyperparameter_labels_them(tmp_path):
    runs = [write_run(tmp_path / f"lr3-s{s}", seed=s, lr=1e-3) for s in range(3)]
    runs += [write_run(tmp_path / f"lr4-s{s}", seed=s, lr=1e-4, level=50.0) for s in range(2)]
    groups = group_runs([read_run(r) for r in runs])
    assert [g.label for g in groups] == ["lr=0.001", "lr=0.0001"]
    assert [sorted(r.seed for r in g.runs) for g in groups] == [[0, 1, 2], [0, 1]]
    results = plot_runs(runs, tmp_path / "out" / "lr.png", metric="train_return")
    assert (tmp_path / "out" / "lr.png").stat().st_size > 10_000
    high, low = results
    assert (high["seeds"], low["seeds"]) == (3, 2)
    # the curves end near their levels (rolling mean of the last 20 of a linear rise lags by ~10 episodes)
    assert high["mean"] == pytest.approx(100 * 50.5 / 60, abs=2.0)
    assert low["mean"] == pytest.approx(50 * 50.5 / 60, abs=2.0)
    assert high["low"] <= high["mean"] <= high["high"]
    evals = plot_runs(runs, tmp_path / "eval.png", metric="eval_return")
    assert evals[0]["mean"] == pytest.approx(100.0, abs=0.1) and evals[0]["env_step"] == 6000


def test_different_algorithms_are_labelled_by_algorithm_not_by_their_many_hyperparameters(tmp_path):
    a = write_run(tmp_path / "a", algo="dqn", lr=1e-3)
    b = write_run(tmp_path / "b", algo="a2c", lr=7e-4)
    c = write_run(tmp_path / "c", algo="dqn", env_id="Acrobot-v1")
    assert [g.label for g in group_runs([read_run(p) for p in (a, b)])] == ["dqn", "a2c"]
    assert [g.label for g in group_runs([read_run(p) for p in (a, b, c)])] == \
        ["dqn, CartPole-v1", "a2c, CartPole-v1", "dqn, Acrobot-v1"]


def test_bootstrap_band_holds_the_mean_and_narrows_with_more_runs():
    rng = np.random.default_rng(0)
    few = rng.normal(0, 1, size=(4, 1))
    many = rng.normal(0, 1, size=(64, 1))
    low_f, high_f = bootstrap_mean_ci(few, np.random.default_rng(1))
    low_m, high_m = bootstrap_mean_ci(many, np.random.default_rng(1))
    assert low_f[0] <= few.mean() <= high_f[0] and low_m[0] <= many.mean() <= high_m[0]
    assert high_m[0] - low_m[0] < high_f[0] - low_f[0]
    # for a normal sample the 95% band is about 2 x 1.96 sigma / sqrt(n) wide
    assert high_m[0] - low_m[0] == pytest.approx(2 * 1.96 * many.std() / 8, rel=0.25)
    with pytest.raises(ValueError, match="level must be in"):
        bootstrap_mean_ci(few, rng, level=95)


def test_cli_plots_a_folder_of_runs_and_names_bad_input(tmp_path, capsys):
    for s in range(2):
        write_run(tmp_path / "sweep" / f"s{s}", seed=s)
    out = tmp_path / "fig.png"
    assert main(["plot", str(tmp_path / "sweep"), "--out", str(out), "--metric", "loss"]) == 0
    text = capsys.readouterr().out
    assert "dqn on CartPole-v1: 2 run(s), loss" in text and out.exists()
    assert main(["plot", str(tmp_path / "sweep"), "--metric", "entropy", "--out", str(tmp_path / "e.png")]) == 2
    assert "none of the runs has the metric 'entropy'" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "sweep"), "--smooth", "0", "--out", str(out)]) == 2
    assert "smooth must be an int >= 1" in capsys.readouterr().err


def test_env_step_ticks_read_as_thousands_and_millions():
    assert [env_steps_label(x) for x in (0, 500, 2500, 20_000, 250_000, 1e6, 1.5e6)] == \
        ["0", "500", "2.5k", "20k", "250k", "1M", "1.5M"]
    fig, ax = plt.subplots()
    ax.plot([0, 1_000_000], [0, 1])
    label_env_steps(ax.xaxis)
    fig.canvas.draw()
    assert {"0", "200k", "400k", "1M"} <= {t.get_text() for t in ax.get_xticklabels()}
    assert ax.xaxis.get_offset_text().get_text() == ""      # no "1e6" in the corner
    plt.close(fig)
