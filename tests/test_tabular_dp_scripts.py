"""The DP scripts run headless, write their figures, print their summary; usage errors exit 2."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("script, args, figures, summary", [
    ("solve_gridworld.py", [], ["gridworld_values.png"], "max |V_VI - V_PI| = 0.00e+00"),
    ("solve_frozenlake.py", ["--episodes", "30"], ["frozenlake_4x4.png", "frozenlake_8x8.png"],
     "goal reached in"),
    ("solve_taxi.py", ["--episodes", "30"], ["taxi_values.png"], "mean return"),
])
def test_solve_scripts_write_figures(tmp_path, script, args, figures, summary):
    done = _run(script, *args, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert summary in done.stdout
    for name in figures:
        with open(tmp_path / name, "rb") as figure:
            assert figure.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bench_tabular_runs_and_prints_ratios():
    done = _run("bench_tabular.py", "--rounds", "1", "--td-episodes", "20")
    assert done.returncode == 0, done.stderr
    assert "Taxi-v4" in done.stdout and "FrozenLake8x8-v1" in done.stdout and "episodes/s" in done.stdout


@pytest.mark.parametrize("script, args", [("solve_frozenlake.py", ["--gamma", "2"]),
                                          ("solve_taxi.py", ["--episodes", "0"]),
                                          ("solve_gridworld.py", ["--size", "1"])])
def test_usage_errors_are_one_line_and_exit_2(script, args):
    done = _run(script, *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "error" in done.stderr
