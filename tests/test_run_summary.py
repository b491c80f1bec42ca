"""`tinygrad-rl train` ends with the run's result in plain words (or one JSON line with --json)."""
import json
import re

from algorithms.runs.cli import main
from algorithms.runs.summary import format_training_summary, reward_threshold

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
