"""``tinygrad-rl benchmark --grid`` / ``[grid]`` / ``[[variants]]``: sweeping deep algorithms' config values."""
import csv
import json

import pytest

from algorithms.benchmark.cli import main
from algorithms.benchmark.records import RUNS_FILE, latest_by_cell, load_records
from algorithms.presets import load_preset

FAST = ["--envs", "CartPole-v1", "--seeds", "1", "--budget", "300", "--workers", "1", "--no-progress",
        "--no-figures"]


def test_grid_runs_every_combination_on_top_of_the_preset_and_reports_each(tmp_path, capsys):
    out = tmp_path / "g"
    args = ["--algos", "dqn", "--grid", "hidden=[8],[4,4]", "--grid", "n_step=1,3"] + FAST + ["--out", str(out)]
    assert main(args) == 0
    records = latest_by_cell(load_records(out / RUNS_FILE))
    assert list(records) == ["dqn[hidden=[8],n_step=1]|CartPole-v1|0", "dqn[hidden=[8],n_step=3]|CartPole-v1|0",
                             "dqn[hidden=[4,4],n_step=1]|CartPole-v1|0", "dqn[hidden=[4,4],n_step=3]|CartPole-v1|0"]
    record = records["dqn[hidden=[4,4],n_step=3]|CartPole-v1|0"]
    assert record["cell"]["overrides"] == {"hidden": [4, 4], "n_step": 3}
    assert record["config"]["hidden"] == [4, 4] and record["config"]["n_step"] == 3
    assert record["config"]["lr"] == load_preset("dqn", "CartPole-v1").lr    # the rest: the CartPole preset
    report = (out / "report.md").read_text()
    assert "| dqn[hidden=[8],n_step=3] | CartPole-v1 | 1 | 300 env steps |" in report
    assert "(4 settings)" in report
    # Resuming runs nothing; the same sweep from a file names the same cells.
    capsys.readouterr()
    assert main(args) == 0
    assert "4 cells: 4 already done, 0 run now" in capsys.readouterr().out
    sweep = tmp_path / "grid.toml"
    sweep.write_text('algorithms = ["dqn"]\nenvs = ["CartPole-v1"]\nseeds = 1\nbudget = 300\n'
                     '[grid]\nhidden = [[8], [4, 4]]\nn_step = [1, 3]\n')
    assert main(["--sweep", str(sweep), "--workers", "1", "--no-progress", "--no-figures", "--out", str(out)]) == 0
    assert "4 cells: 4 already done, 0 run now" in capsys.readouterr().out


def test_variants_list_whole_settings(tmp_path):
    sweep = tmp_path / "ablation.toml"
    sweep.write_text('envs = ["CartPole-v1"]\nseeds = [3]\nbudget = 300\n'
                     '[[variants]]\nalgorithm = "dqn"\n'
                     '[[variants]]\nalgorithm = "double_dqn"\ndueling = true\nhidden = [8]\n')
    out = tmp_path / "v"
    assert main(["--sweep", str(sweep), "--workers", "1", "--no-progress", "--no-figures", "--out", str(out)]) == 0
    records = load_records(out / RUNS_FILE)
    assert [r["cell"] for r in records] == [
        {"algorithm": "dqn", "env": "CartPole-v1", "seed": 3, "budget": 300},
        {"algorithm": "double_dqn", "env": "CartPole-v1", "seed": 3, "budget": 300,
         "overrides": {"dueling": True, "hidden": [8]}}]
    with open(out / "summary.csv") as handle:
        assert [row["algorithm"] for row in csv.DictReader(handle)] == ["dqn", "double_dqn[dueling=true,hidden=[8]]"]
    assert json.loads((out / RUNS_FILE).read_text().splitlines()[1])["config"]["dueling"] is True


@pytest.mark.parametrize("args, expected", [
    (["--algos", "dqn", "--grid", "learning_rate=1e-3"], "unknown key 'learning_rate'; valid keys:"),
    (["--algos", "dqn", "--grid", "lr=fast"], "invalid value 'fast' for lr: expected float"),
    (["--algos", "dqn", "--grid", "lr=-1"], "invalid lr=-1.0: expected a float > 0"),
    (["--algos", "dqn", "--grid", "seed=1,2"], "a grid cannot set seed: the sweep's budget and seeds set them"),
    (["--algos", "dqn", "--grid", "lr"], "--grid expects KEY=VALUE[,VALUE...]"),
    (["--algos", "dqn", "--grid", "lr=1e-3", "--grid", "lr=1e-4"], "--grid lr is given twice"),
    (["--algos", "dqn", "--grid", "n_step=2,2"], "grid n_step lists a value twice"),
    (["--algos", "sarsa", "--envs", "Taxi-v4", "--grid", "alpha=0.1"], "sarsa is tabular"),
])
def test_bad_grids_are_one_line_exit_2_and_write_nothing(tmp_path, args, expected, stderr_lines):
    if "--envs" not in args:
        args = args + ["--envs", "CartPole-v1"]
    out = tmp_path / "out"
    assert main(args + ["--seeds", "1", "--out", str(out), "--no-progress"]) == 2
    lines = stderr_lines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("sweep_text, expected", [
    ('envs = ["CartPole-v1"]\nseeds = 1\n[[variants]]\nn_step = 3\n', "variant 1 needs algorithm"),
    ('algorithms = ["dqn"]\nenvs = ["CartPole-v1"]\nseeds = 1\n[[variants]]\nalgorithm = "dqn"\n',
     "instead of algorithms and grid"),
    ('envs = ["CartPole-v1"]\nseeds = 1\n[[variants]]\nalgorithm = "dqn"\n[[variants]]\nalgorithm = "dqn"\n',
     "lists a setting twice: dqn"),
])
def test_bad_variants_and_grid_with_variants(tmp_path, stderr_lines, sweep_text, expected):
    sweep = tmp_path / "s.toml"
    sweep.write_text(sweep_text)
    assert main(["--sweep", str(sweep), "--out", str(tmp_path / "o")]) == 2
    assert expected in stderr_lines()[0]
    assert not (tmp_path / "o").exists()
