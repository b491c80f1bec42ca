"""``tinygrad-rl benchmark``: bad input, resuming an interrupted sweep, failing cells, the sweep file."""
import csv
import dataclasses
import json

import pytest

from algorithms.benchmark import runners
from algorithms.benchmark.cli import main
from algorithms.benchmark.records import RUNS_FILE, comparable, latest_by_cell, load_records

TINY = ["--algos", "q_learning,sarsa", "--envs", "FrozenLake-v1,CliffWalking-v1", "--seeds", "2",
        "--budget", "30", "--workers", "1", "--no-progress", "--no-figures"]


@pytest.mark.parametrize("args, expected", [
    (["--algos", "q_lerning", "--envs", "Taxi-v4", "--seeds", "2"],
     "unknown algorithm 'q_lerning'; valid algorithms: q_learning, sarsa, expected_sarsa, mc_control, dqn"),
    (["--algos", "sarsa", "--envs", "Taxy-v4", "--seeds", "2"], "closest registered ids"),
    (["--algos", "sarsa", "--envs", "CartPole-v1", "--seeds", "2"],
     "valid envs for sarsa: FrozenLake-v1, CliffWalking-v1, Taxi-v4"),
    (["--algos", "sarsa", "--envs", "Taxi-v4", "--seeds", "0"], "seeds must be a positive count"),
    (["--algos", "sarsa", "--envs", "Taxi-v4", "--seeds", "-3"], "seeds must be a positive count"),
    (["--algos", "sarsa", "--envs", "Taxi-v4", "--seeds", "2", "--budget", "0"], "--budget must be an int >= 1"),
    (["--algos", "sarsa", "--envs", "Taxi-v4", "--seeds", "2", "--workers", "0"], "--workers must be an int >= 1"),
    (["--algos", "sarsa", "--envs", "Taxi-v4", "--seeds", "2", "--backend", "slurm"], "valid backends: local, ray"),
    (["--sweep", "/nonexistent/sweep.toml"], "cannot read sweep file '/nonexistent/sweep.toml'"),
    (["--algos", "sarsa", "--envs", "Taxi-v4", "--seeds", "2", "--backend", "ray", "--address", "127.0.0.1:1"],
     "cannot reach a Ray cluster at '127.0.0.1:1'"),
])
def test_bad_input_is_one_line_exit_2_and_leaves_the_output_folder_alone(tmp_path, args, expected, stderr_lines):
    out = tmp_path / "out"
    out.mkdir()
    (out / RUNS_FILE).write_text("precious\n")
    assert main(args + ["--out", str(out), "--no-progress"]) == 2
    lines = stderr_lines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert [p.name for p in out.iterdir()] == [RUNS_FILE] and (out / RUNS_FILE).read_text() == "precious\n"


def test_unparsable_sweep_file_and_unknown_key(tmp_path, stderr_lines):
    bad = tmp_path / "bad.toml"
    bad.write_text("algorithms = [q_learning\n")
    assert main(["--sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "is not valid TOML" in stderr_lines()[0]
    bad.write_text('algorithms = ["sarsa"]\nenvs = ["Taxi-v4"]\nseeds = 2\nsteps = 5\n')
    assert main(["--sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "unknown keys ['steps']" in stderr_lines()[0]
    assert not (tmp_path / "o").exists()


def test_an_out_path_that_is_a_file_is_a_usage_error(tmp_path, stderr_lines):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main(["--algos", "sarsa", "--envs", "Taxi-v4", "--seeds", "1", "--out", str(target)]) == 2
    assert "exists and is not a folder" in stderr_lines()[0]
    assert target.read_text() == "not a folder"


def test_missing_out_is_a_usage_error(stderr_lines):
    assert main(["--algos", "sarsa", "--envs", "Taxi-v4", "--seeds", "2"]) == 2
    assert "--out DIR is required" in stderr_lines()[0]


def _summary_without_wall_time(path):
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "mean_wall_time_s"} for row in csv.DictReader(handle)]


def _report_without_wall_time(path):
    # The last table column is the wall time per run: machine-dependent, the rest is not.
    return [line.rsplit("|", 2)[0] if line.startswith("| ") else line for line in path.read_text().splitlines()]


def test_resume_runs_only_the_missing_cells_and_reports_what_an_uninterrupted_run_does(tmp_path, capsys):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert main(TINY + ["--out", str(full)]) == 0
    lines = (full / RUNS_FILE).read_text().splitlines(keepends=True)
    assert len(lines) == 8

    # Interrupted: three records made it to disk, the fourth was cut off mid-write.
    resumed.mkdir()
    (resumed / RUNS_FILE).write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    capsys.readouterr()
    assert main(TINY + ["--out", str(resumed)]) == 0
    captured = capsys.readouterr()
    assert "8 cells: 3 already done, 5 run now, 0 failed" in captured.out
    assert "removed an incomplete last record" in captured.err

    after = (resumed / RUNS_FILE).read_text().splitlines(keepends=True)
    assert after[:3] == lines[:3] and len(after) == 8        # finished cells kept byte for byte
    full_records = latest_by_cell(load_records(full / RUNS_FILE))
    resumed_records = latest_by_cell(load_records(resumed / RUNS_FILE))
    assert {k: comparable(r) for k, r in full_records.items()} == {k: comparable(r) for k, r in resumed_records.items()}
    assert _summary_without_wall_time(full / "summary.csv") == _summary_without_wall_time(resumed / "summary.csv")
    assert _report_without_wall_time(full / "report.md") == _report_without_wall_time(resumed / "report.md")

    # Nothing left to do: a rerun runs no cell and writes the same report.
    assert main(TINY + ["--out", str(resumed)]) == 0
    assert "8 cells: 8 already done, 0 run now" in capsys.readouterr().out


def test_a_resume_with_another_budget_is_refused(tmp_path, capsys, stderr_lines):
    out = tmp_path / "o"
    args = ["--algos", "q_learning", "--envs", "CliffWalking-v1", "--seeds", "1", "--workers", "1",
            "--no-progress", "--no-figures"]
    assert main(args + ["--budget", "5", "--out", str(out)]) == 0
    before = (out / RUNS_FILE).read_text()
    capsys.readouterr()
    assert main(args + ["--budget", "6", "--out", str(out)]) == 2
    assert "with budget 5, but this sweep asks for 6" in stderr_lines()[0]
    assert (out / RUNS_FILE).read_text() == before


def test_records_made_before_a_speed_only_setting_existed_are_still_the_sweeps(tmp_path, capsys):
    """``jit`` never changed what a deep cell computes (and is ignored now): records without it (made
    before it existed) or with another value (made while it was on by default) are resumed into, not refused."""
    out = tmp_path / "o"
    args = ["--algos", "dqn", "--envs", "CartPole-v1", "--seeds", "1", "--budget", "200", "--workers", "1",
            "--no-progress", "--no-figures", "--out", str(out)]
    assert main(args) == 0
    records = [json.loads(line) for line in (out / RUNS_FILE).read_text().splitlines()]
    assert records[0]["config"]["jit"] is False
    for made_with in (True, None):
        if made_with is None:
            del records[0]["config"]["jit"]
        else:
            records[0]["config"]["jit"] = made_with
        (out / RUNS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
        capsys.readouterr()
        assert main(args) == 0 and "1 already done, 0 run now" in capsys.readouterr().out


def test_a_resume_after_the_settings_changed_is_refused(tmp_path, capsys, monkeypatch, stderr_lines):
    out = tmp_path / "o"
    args = ["--algos", "q_learning", "--envs", "CliffWalking-v1", "--seeds", "1", "--budget", "5", "--workers", "1",
            "--no-progress", "--no-figures", "--out", str(out)]
    assert main(args) == 0
    before = (out / RUNS_FILE).read_text()
    capsys.readouterr()
    changed = dataclasses.replace(runners.TABULAR_DEFAULTS["CliffWalking-v1"],
                                  params=runners.TABULAR_DEFAULTS["CliffWalking-v1"].params | {"alpha": 0.25})
    monkeypatch.setitem(runners.TABULAR_DEFAULTS, "CliffWalking-v1", changed)
    assert main(args) == 2
    assert "run with alpha=0.5, but this code would use alpha=0.25" in stderr_lines()[0]
    assert (out / RUNS_FILE).read_text() == before


def test_a_failing_cell_is_recorded_the_sweep_goes_on_and_the_exit_status_says_so(tmp_path, capsys, monkeypatch):
    entry = runners.ALGORITHMS["sarsa"]

    def broken_on_seed_1(env_id, seed, budget, config):
        if seed == 1:
            raise RuntimeError("simulated divergence")
        return entry.run(env_id, seed, budget, config)

    monkeypatch.setitem(runners.ALGORITHMS, "sarsa", dataclasses.replace(entry, run=broken_on_seed_1))
    out = tmp_path / "o"
    args = ["--algos", "q_learning,sarsa", "--envs", "CliffWalking-v1", "--seeds", "2", "--budget", "5",
            "--workers", "1", "--no-progress", "--no-figures", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "simulated divergence" in err
    records = latest_by_cell(load_records(out / RUNS_FILE))
    assert records["sarsa|CliffWalking-v1|1"]["status"] == "failed"
    assert "RuntimeError: simulated divergence" in records["sarsa|CliffWalking-v1|1"]["error"]
    assert sum(r["status"] == "ok" for r in records.values()) == 3
    report = (out / "report.md").read_text()
    assert "## Failed runs" in report
    assert "sarsa on CliffWalking-v1, seed 1: RuntimeError: simulated divergence" in report
    with open(out / "summary.csv") as handle:
        sarsa_row = [row for row in csv.DictReader(handle) if row["algorithm"] == "sarsa"][0]
    assert (sarsa_row["seeds"], sarsa_row["failed"]) == ("1", "1")

    # The failed cell is retried on resume; with the fault gone it succeeds and the exit status is 0.
    monkeypatch.setitem(runners.ALGORITHMS, "sarsa", entry)
    assert main(args) == 0
    assert "2 already done" not in capsys.readouterr().out
    assert latest_by_cell(load_records(out / RUNS_FILE))["sarsa|CliffWalking-v1|1"]["status"] == "ok"


def test_sweep_file_gives_the_same_cells_as_the_command_line(tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('algorithms = ["q_learning"]\nenvs = ["CliffWalking-v0"]\nseeds = [4, 7]\n'
                     '[budget]\n"CliffWalking-v0" = 5\n')
    assert main(["--sweep", str(sweep), "--workers", "1", "--no-progress", "--no-figures",
                 "--out", str(tmp_path / "a")]) == 0
    records = load_records(tmp_path / "a" / RUNS_FILE)
    assert [(r["cell"]["env"], r["cell"]["seed"], r["cell"]["budget"]) for r in records] == \
        [("CliffWalking-v1", 4, 5), ("CliffWalking-v1", 7, 5)]
    assert json.loads((tmp_path / "a" / RUNS_FILE).read_text().splitlines()[0])["eval"]["episodes"] == 20


def test_deep_algorithms_plug_into_the_same_records(tmp_path):
    """A deep cell (env-step budget) goes through the same adapter interface and record format."""
    out = tmp_path / "deep"
    assert main(["--algos", "dqn,a2c", "--envs", "CartPole-v1", "--seeds", "1", "--budget", "600",
                 "--workers", "1", "--no-progress", "--no-figures", "--out", str(out)]) == 0
    records = latest_by_cell(load_records(out / RUNS_FILE))
    for name in ("dqn", "a2c"):
        record = records[f"{name}|CartPole-v1|0"]
        assert record["status"] == "ok" and record["family"] == "deep" and record["budget_unit"] == "env steps"
        assert record["config"]["total_steps"] == 600 and record["env_steps"] >= 600
        assert sum(record["episode_lengths"]) <= record["env_steps"]
        assert record["eval"]["episodes"] == 20 and record["solve_threshold"] == 475.0
    assert "| dqn | CartPole-v1 | 1 | 600 env steps |" in (out / "report.md").read_text()


def test_a_sweep_on_an_env_without_a_solve_threshold_reports_returns(tmp_path):
    pytest.importorskip("minatar")
    out = tmp_path / "minatar"
    assert main(["--algos", "ppo", "--envs", "MinAtar/Breakout-v1", "--seeds", "1", "--budget", "256",
                 "--workers", "1", "--out", str(out), "--no-progress"]) == 0
    (row,) = list(csv.DictReader((out / "summary.csv").open()))
    assert row["threshold"] == "" and row["solve_rate"] == "" and float(row["mean"]) >= 0
    assert "n/a (no threshold)" in (out / "report.md").read_text()
    assert (out / "sample_efficiency.png").is_file()
