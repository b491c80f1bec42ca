"""The engine has no jit any more; the ``jit`` config field stays, accepted and ignored, so run folders
written while it existed (config.json with ``"jit": true`` or ``false``) still evaluate and resume, and
``--set jit=...`` still parses. Whatever its value, a run computes the same numbers."""
import dataclasses
import json

from algorithms import registry
from algorithms.presets import load_preset
from algorithms.runs.cli import main
from algorithms.trainers import train

TINY = ["--set", "hidden=16,16", "--set", "learning_starts=100", "--set", "eval_every=300",
        "--set", "eval_episodes=2", "--no-progress"]


def test_jit_is_accepted_either_way_and_changes_nothing():
    runs = []
    for jit in (True, False):
        config = load_preset("dqn", "CartPole-v1", {"total_steps": 400, "hidden": [16], "learning_starts": 100,
                                                    "eval_every": 400, "eval_episodes": 2, "seed": 5, "jit": jit})
        runs.append(train("dqn", "CartPole-v1", config))
    strip = [[{k: v for k, v in row.items() if k != "wall_time"} for row in run.metrics.rows] for run in runs]
    assert strip[0] == strip[1]


def test_a_run_folder_written_with_the_jit_on_evaluates_and_resumes(tmp_path, capsys, monkeypatch):
    spec = registry.get_algorithm("dqn")
    calls = {"n": 0}

    def interrupted_loss(*args):
        calls["n"] += 1
        if calls["n"] == 60:
            raise KeyboardInterrupt
        return spec.loss(*args)
    monkeypatch.setitem(registry._ALGORITHMS, "dqn", dataclasses.replace(spec, loss=interrupted_loss))
    out_dir = tmp_path / "run"
    # "jit": true in config.json and in the resume checkpoint, as the engine with a jit wrote them by default
    status = main(["train", "dqn", "CartPole-v1", "--steps", "900", "--out", str(out_dir), "--checkpoint-every", "0",
                   "--set", "train_freq=4", "--set", "jit=true", *TINY])
    assert status == 130, capsys.readouterr().err
    assert json.loads((out_dir / "config.json").read_text())["config"]["jit"] is True
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["train", "--resume", str(out_dir), "--no-progress", "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["env_steps"] == 900
    assert main(["eval", str(out_dir), "--episodes", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 2
