"""The chapter-8 planning scripts run headless on tiny budgets, write their PNGs, and fail cleanly."""
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
    ("dyna_maze.py", ["--runs", "2", "--episodes", "4", "--planning-steps", "0", "5"], ["dyna_maze_steps.png"]),
    ("changing_mazes.py", ["--runs", "2", "--maze", "blocking", "shortcut"],
     ["blocking_maze.png", "shortcut_maze.png"]),
    ("prioritized_sweeping.py", ["--runs", "2", "--sizes", "2", "--alphas", "1.0"],
     ["prioritized_sweeping_mazes.png"]),
])
def test_script_writes_figures(tmp_path, script, args, figures):
    done = run_script(script, *args, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for figure in figures:
        assert (tmp_path / figure).stat().st_size > 10_000, figure
    assert "figure" in done.stdout


@pytest.mark.parametrize("script, args, flag", [
    ("dyna_maze.py", ["--episodes", "1"], "--episodes"),
    ("changing_mazes.py", ["--kappa", "-1"], "--kappa"),
    ("prioritized_sweeping.py", ["--sizes", "9"], "--sizes"),
])
def test_usage_error_is_one_line_and_status_2(tmp_path, script, args, flag):
    done = run_script(script, *args, "--out", str(tmp_path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and flag in done.stderr
