"""The TD / MC / exploration scripts run headless on tiny budgets, write their PNGs, and fail cleanly."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name, *args):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name), *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("script, args, figures", [
    ("solve_cliffwalking.py", ["--runs", "2", "--episodes", "60"],
     ["cliffwalking_returns.png", "cliffwalking_paths.png"]),
    ("solve_cartpole_tabular.py", ["--seeds", "1", "--episodes", "30", "--eval-episodes", "2"],
     ["cartpole_tabular_learning_curve.png"]),
    ("solve_blackjack.py", ["--short", "200", "--long", "400", "--control", "400"],
     ["blackjack_prediction_values.png", "blackjack_es_policy_values.png"]),
    ("compare_exploration.py", ["--env", "CliffWalking-v1", "--seeds", "2", "--episodes", "40",
                                "--eval-episodes", "1", "--smooth", "5"],
     ["exploration_cliffwalking.png"]),
])
def test_script_writes_figures(tmp_path, script, args, figures):
    done = run_script(script, *args, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for figure in figures:
        assert (tmp_path / figure).stat().st_size > 10_000, figure
    assert "figure" in done.stdout


def test_usage_error_is_one_line_and_status_2(tmp_path):
    done = run_script("solve_cliffwalking.py", "--runs", "0", "--out", str(tmp_path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--runs" in done.stderr


def test_non_discrete_env_is_one_line_and_nonzero(tmp_path):
    done = run_script("compare_exploration.py", "--env", "CartPole-v1", "--seeds", "1", "--episodes", "5",
                      "--out", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("compare_exploration.py: error: tabular methods need")
