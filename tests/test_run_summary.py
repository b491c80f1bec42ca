"""`tinygrad-rl train` ends with the run's result in plain words (or one JSON line with --json)."""
import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from algorithms import registry
from algorithms.runs.cli import main
from algorithms.runs.summary import format_training_summary, reward_threshold, training_report

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_EXAMPLE = ROOT / "docs" / "examples" / "munchausen_dqn.py"

TINY = ["--set", "hidden=16,16", "--set", "learning_starts=100", "--set", "eval_every=300",
        "--set", "eval_episodes=2", "--no-progress"]


def test_plain_words_summary_matches_eval_json(capsys, tmp_path):
    out_dir = tmp_path / "run"
    assert main(["train", "dqn", "CartPole-v1", "--steps", "900", "--seed", "2", "--out", str(out_dir), *TINY]) == 0
    text = capsys.readouterr().out
    saved = json.loads((out_dir / "eval.json").read_text())
    pattern = r"mean return (-?[\d.]+) ± ([\d.]+) \(std\) over (\d+) deterministic"
    mean, std, episodes = re.search(pattern, text).groups()
    assert float(mean) == round(saved["mean_return"], 1) and float(std) == round(saved["std_return"], 1)
    assert int(episodes) == saved["episodes"] == 20
    assert "dqn on CartPole-v1, seed 2: 900 env steps in " in text and "env steps/s" in text
    solved = saved["mean_return"] >= 475
    assert ("Solved: yes" if solved else "Solved: no") in text and "reward threshold of 475" in text
    assert f"Run folder: {out_dir}" in text
    for command in (f"tinygrad-rl eval {out_dir} --episodes 100", f"{out_dir / 'learning_curve.png'}",
                    f"tinygrad-rl eval {out_dir} --record {out_dir / 'episode.gif'}", f"tinygrad-rl plot {out_dir}"):
        assert command in text


def test_json_flag_prints_one_parsable_line(capsys, tmp_path):
    out_dir = tmp_path / "run"
    assert main(["train", "a2c", "CartPole-v1", "--steps", "600", "--out", str(out_dir), "--json",
                 "--set", "eval_every=300", "--set", "eval_episodes=2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    result = json.loads(out)
    saved = json.loads((out_dir / "eval.json").read_text())
    assert {k: result[k] for k in saved} == saved
    assert result["out"] == str(out_dir) and result["interrupted"] is False and result["env_steps"] >= 600
    assert result["reward_threshold"] == 475.0 and result["solved"] == (saved["mean_return"] >= 475)
    assert result["wall_time_s"] > 0 and result["steps_per_second"] > 0


def test_threshold_comes_from_gymnasium_or_is_said_to_be_missing():
    assert reward_threshold("CartPole-v1") == 475.0 and reward_threshold("Acrobot-v1") == -100.0
    assert reward_threshold("CliffWalking-v1") is None and reward_threshold("NoSuchEnv-v0") is None
    info = {"algo": "q", "env_id": "CliffWalking-v1", "seed": 0, "mean_return": -13.0, "std_return": 0.0,
            "episodes": 20, "reward_threshold": None, "solved": None, "env_steps": 5000, "total_steps": 10000,
            "interrupted": True, "wall_time_s": 2.0, "steps_per_second": 2500.0, "out": "runs/x"}
    text = format_training_summary(info)
    assert "Solved: not defined, gymnasium's spec of CliffWalking-v1 has no reward threshold." in text
    assert "Interrupted (Ctrl-C) at 5,000 of 10,000 env steps" in text
    assert "5,000 env steps in 2.0 s, 2,500 env steps/s" in text


def _interrupt_dqn_after(monkeypatch, updates: int) -> None:
    """Make the registered dqn raise KeyboardInterrupt (as Ctrl-C would) at its ``updates``-th loss."""
    spec = registry.get_algorithm("dqn")
    calls = {"n": 0}

    def interrupted_loss(*args):
        calls["n"] += 1
        if calls["n"] == updates:
            raise KeyboardInterrupt
        return spec.loss(*args)
    monkeypatch.setitem(registry._ALGORITHMS, "dqn", dataclasses.replace(spec, loss=interrupted_loss))


def test_a_resumed_run_reports_this_sessions_env_steps_and_speed(capsys, tmp_path, monkeypatch):
    out_dir = tmp_path / "run"
    _interrupt_dqn_after(monkeypatch, 60)
    assert main(["train", "dqn", "CartPole-v1", "--steps", "900", "--out", str(out_dir), "--checkpoint-every", "0",
                 "--set", "train_freq=4", *TINY]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["train", "--resume", str(out_dir), "--no-progress"]) == 0
    text = capsys.readouterr().out
    found = re.search(r"resumed at env step ([\d,]+); ([\d,]+) env steps in this session in ([\d.]+) s, "
                      r"([\d,]+) env steps/s \(training and final evaluation\), 900 in all\.", text)
    assert found, text
    start, session = (int(found.group(i).replace(",", "")) for i in (1, 2))
    assert 0 < start < 900 and start + session == 900

    info = {"algo": "dqn", "env_id": "CartPole-v1", "seed": 0, "mean_return": 9.0, "std_return": 0.0,
            "episodes": 20, "reward_threshold": 475.0, "solved": False, "env_steps": 13245,
            "resumed_from_step": 7314, "session_env_steps": 5931, "total_steps": 13245, "interrupted": False,
            "wall_time_s": 25.1, "steps_per_second": round(5931 / 25.1, 1), "out": "runs/x"}
    assert ("resumed at env step 7,314; 5,931 env steps in this session in 25.1 s, 236 env steps/s "
            "(training and final evaluation), 13,245 in all.") in format_training_summary(info)


def test_a_resumed_runs_json_divides_this_sessions_steps_by_this_sessions_time(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"algo": "dqn", "env_id": "CartPole-v1",
                                                      "config": {"seed": 0, "total_steps": 13245}}))
    (tmp_path / "eval.json").write_text(json.dumps({"mean_return": 9.0, "std_return": 0.0, "episodes": 20}))
    result = {"mean_return": 9.0, "std_return": 0.0, "episodes": 20, "env_steps": 13245, "interrupted": False,
              "resumed_from_step": 7314}
    line = json.loads(training_report(tmp_path, result, 25.1, as_json=True))
    assert line["session_env_steps"] == 5931 and line["steps_per_second"] == round(5931 / 25.1, 1)
    fresh = json.loads(training_report(tmp_path, {**result, "resumed_from_step": 0}, 25.1, as_json=True))
    assert "session_env_steps" not in fresh and fresh["steps_per_second"] == round(13245 / 25.1, 1)


def test_next_commands_after_a_plugin_run_name_the_plugin_and_work(capsys, tmp_path, monkeypatch):
    plugin = tmp_path / "munchausen_dqn.py"
    plugin.write_text(PLUGIN_EXAMPLE.read_text())
    out_dir = tmp_path / "run"
    try:
        assert main(["train", "munchausen_dqn", "CartPole-v1", "--steps", "600", "--out", str(out_dir),
                     "--plugin", str(plugin), *TINY]) == 0
    finally:
        registry.unregister_algorithm("munchausen_dqn")
        sys.modules.pop("tinygrad_rl_plugin_munchausen_dqn", None)
    text = capsys.readouterr().out
    evaluate = re.search(r"evaluate on more episodes:\s+(tinygrad-rl eval .*)", text).group(1)
    watch = re.search(r"watch it play:\s+(.*)", text).group(1)
    assert f"--plugin {plugin}" in evaluate and f"--plugin {plugin}" in watch
    # The printed command runs as printed, in a fresh process (where only --plugin can load the plugin).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "algorithms", *shlex.split(evaluate)[1:]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["episodes"] == 100
    assert f"--out {tmp_path / 'compare.png'}" in text and "--out compare.png" not in text
