"""The tinygrad-rl CLI, presets, the run folder, checkpoints, Ctrl-C and non-finite losses."""
import csv
import dataclasses
import json

import numpy as np
import pytest

from algorithms import registry
from algorithms.configs import OffPolicyConfig
from algorithms.loops.metrics_log import METRIC_COLUMNS
from algorithms.loops.training_run import NonFiniteLossError, train
from algorithms.presets import load_preset, preset_envs, preset_source
from algorithms.runs.checkpoint import atomic_write, load_weights, save_weights
from algorithms.runs.cli import main
from tinygrad_rl import nn

TINY = ["--set", "hidden=16,16", "--set", "learning_starts=100", "--set", "eval_every=300",
        "--set", "eval_episodes=2", "--no-progress"]


def run_cli(args, capsys):
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("args, message", [
    (["train", "trpo", "CartPole-v1"], "unknown algorithm 'trpo'; valid: dqn, double_dqn, dqn_rainbow, a2c, ppo, "
                                       "reinforce, td3"),
    (["train", "sac", "CartPole-v1"], "sac cannot train on CartPole-v1: an off-policy actor-critic for Box actions "
                                      "needs a Box action space"),
    (["train", "dqn", "Pong-v5"], "unknown environment id 'Pong-v5'"),
    (["train", "dqn", "payload:CartPole-v1"], "names a module to import"),
    (["train", "dqn", "Pendulum-v1"], "dqn cannot train on Pendulum-v1: Q-networks need a Discrete action space"),
    (["train", "dqn", "CartPole-v1", "--set", "lr=inf"], "expected a finite float"),
    (["train", "dqn", "CartPole-v1", "--plugin", "no_such_plugin.py"], "--plugin no_such_plugin.py: no such file"),
    (["train", "dqn", "CartPole-v1", "--preset", "missing.toml"], "cannot read preset file missing.toml"),
    (["train", "dqn", "CartPole-v1", "--set", "lrr=0.1"], "unknown key 'lrr'"),
    (["train", "dqn", "CartPole-v1", "--set", "lr=-0.001"], "invalid lr=-0.001: expected a float > 0"),
    (["train", "dqn", "CartPole-v1", "--set", "gamma=1.5"], "invalid gamma=1.5"),
    (["train", "a2c", "CartPole-v1", "--steps", "0"], "invalid total_steps=0"),
    (["train", "a2c", "CartPole-v1", "--steps", "ten"], "invalid value 'ten' for total_steps"),
    (["train", "dqn", "CartPole-v1", "--set", "lr"], "--set expects KEY=VALUE"),
    (["eval", "no/such/run"], "not a training run folder"),
    (["eval", "no/such/run", "--episodes", "0"], "--episodes must be an int >= 1"),
])
def test_usage_errors_one_line_exit_2_nothing_written(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(args, capsys)
    assert status == 2
    assert message in err and err.count("\n") == 1 and out == ""
    assert list(tmp_path.iterdir()) == []


def test_argparse_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "dqn", "CartPole-v1", "--no-such-flag"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert "train needs ALGO and ENV (or --resume DIR)" in err and err.count("\n") == 1


def test_train_writes_the_run_folder_and_eval_reproduces_it(capsys, tmp_path):
    out_dir = tmp_path / "run"
    status, out, err = run_cli(["train", "dqn", "CartPole-v1", "--steps", "900", "--seed", "3",
                                "--out", str(out_dir), *TINY], capsys)
    assert status == 0, err
    assert {p.name for p in out_dir.iterdir()} >= {"config.json", "metrics.csv", "model.npz", "eval.json",
                                                   "learning_curve.png", "checkpoint.json"}
    saved = json.loads((out_dir / "config.json").read_text())
    assert saved["algo"] == "dqn" and saved["config"]["total_steps"] == 900 and saved["config"]["seed"] == 3
    summary = json.loads((out_dir / "eval.json").read_text())
    assert set(summary) == {"mean_return", "std_return", "episodes"} and summary["episodes"] == 20
    with open(out_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == METRIC_COLUMNS
    assert [int(r["env_step"]) for r in rows if r["eval_return"]] == [300, 600, 900]
    with np.load(out_dir / "model.npz", allow_pickle=False) as weights:
        assert "q_net/layers.0.weight" in weights.files
    status, out, _ = run_cli(["eval", str(out_dir)], capsys)
    assert status == 0 and json.loads(out) == summary
    status, out, _ = run_cli(["eval", str(out_dir), "--episodes", "3", "--seed", "1"], capsys)
    assert status == 0 and json.loads(out)["episodes"] == 3
    # the folder now holds a run: training into it again is refused
    status, _, err = run_cli(["train", "dqn", "CartPole-v1", "--out", str(out_dir)], capsys)
    assert status == 2 and "already exists" in err


def test_same_seed_same_run():
    config = load_preset("dqn", "CartPole-v1", {"total_steps": 800, "hidden": [16], "learning_starts": 100,
                                                "eval_every": 400, "eval_episodes": 2, "seed": 11})
    a, b = (train("dqn", "CartPole-v1", config) for _ in range(2))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]  # noqa: E731
    assert strip(a.metrics.rows) == strip(b.metrics.rows)
    for name in a.nets:
        for (_, x), (_, y) in zip(a.nets[name].state_dict().items(), b.nets[name].state_dict().items()):
            np.testing.assert_array_equal(x, y)


def failing_loss(after_calls: int, exc=None):
    """A DQN loss that turns NaN (or raises ``exc``) once it has been called ``after_calls`` times."""
    real = registry.get_algorithm("dqn").loss
    calls = {"n": 0}

    def loss(*args):
        calls["n"] += 1
        value, terms = real(*args)
        if calls["n"] > after_calls:
            if exc is not None:
                raise exc
            terms = {"td": value * float("nan")}
        return value, terms
    return loss


def with_loss(monkeypatch, loss):
    """Swap the registered DQN's loss for this test only."""
    spec = registry.get_algorithm("dqn")
    monkeypatch.setitem(registry._ALGORITHMS, "dqn", dataclasses.replace(spec, loss=loss))


def test_non_finite_loss_stops_naming_step_and_term_and_keeps_last_checkpoint(capsys, tmp_path, monkeypatch):
    # learning_starts 100, train_freq 4: the 101st loss call is at env step 100 + 4 * 101 = 504.
    with_loss(monkeypatch, failing_loss(100))
    out_dir = tmp_path / "run"
    status, _, err = run_cli(["train", "dqn", "CartPole-v1", "--steps", "2000", "--out", str(out_dir),
                              "--set", "train_freq=4", "--set", "gradient_steps=1", *TINY], capsys)
    assert status == 1
    assert "non-finite loss at env step 504: term 'td' = nan" in err and err.count("\n") == 1
    checkpoint = json.loads((out_dir / "checkpoint.json").read_text())
    assert checkpoint["env_step"] == 300                      # the last periodic, good checkpoint
    nets = {"q_net": nn.MLP([4, 16, 16, 2]), "q_net_target": nn.MLP([4, 16, 16, 2])}
    load_weights(out_dir / "model.npz", nets)
    assert all(np.isfinite(p.data).all() for p in nets["q_net"].parameters())
    assert not (out_dir / "eval.json").exists()
    assert (out_dir / "metrics.csv").exists() and (out_dir / "learning_curve.png").exists()


def test_non_finite_error_object_names_step_and_term():
    err = NonFiniteLossError(12, "value", float("inf"))
    assert (err.step, err.term) == (12, "value") and "env step 12" in str(err) and "'value'" in str(err)


def test_ctrl_c_stops_cleanly_and_writes_everything(capsys, tmp_path, monkeypatch):
    with_loss(monkeypatch, failing_loss(50, exc=KeyboardInterrupt()))
    out_dir = tmp_path / "run"
    status, out, err = run_cli(["train", "dqn", "CartPole-v1", "--steps", "5000", "--out", str(out_dir),
                                "--set", "train_freq=4", "--set", "gradient_steps=1", *TINY, "--json"], capsys)
    assert status == 130, err                       # interrupted: 128 + SIGINT, like a shell reports it
    assert f"continue with: tinygrad-rl train --resume {out_dir}" in err
    result = json.loads(out)
    assert result["interrupted"] is True and result["env_steps"] < 5000
    for name in ("config.json", "metrics.csv", "model.npz", "eval.json", "learning_curve.png"):
        assert (out_dir / name).exists()
    assert json.loads((out_dir / "checkpoint.json").read_text())["interrupted"] is True


def test_every_preset_loads_and_overrides_change_one_key():
    for env_id in preset_envs():
        for algo in registry.algorithm_names():
            config = load_preset(algo, env_id)
            assert isinstance(config, registry.get_algorithm(algo).config) and config.total_steps > 0
    assert preset_source("dqn", "CartPole-v1") == "CartPole-v1.toml [dqn]"
    base = load_preset("a2c", "CartPole-v1")
    changed = load_preset("a2c", "CartPole-v1", {"entropy_coef": 0.05})
    diff = {k for k, v in dataclasses.asdict(changed).items() if dataclasses.asdict(base)[k] != v}
    assert diff == {"entropy_coef"}
    with pytest.raises(ValueError, match="expected int"):
        load_preset("dqn", "CartPole-v1", {"batch_size": 1.5})
    with pytest.raises(ValueError, match="tau"):
        load_preset("dqn", "CartPole-v1", {"tau": 0.0})


def test_list_shows_algorithms_envs_and_hyperparameters(capsys):
    status, out, _ = run_cli(["list"], capsys)
    assert status == 0
    for name in registry.algorithm_names():
        assert f"\n{name}: " in f"\n{out}"
    assert "presets: Acrobot-v1, CartPole-v1, LunarLander-v3" in out
    status, out, _ = run_cli(["list", "dqn"], capsys)
    assert status == 0
    assert "CartPole-v1 (from CartPole-v1.toml [dqn])" in out and "lr=0.001 " in out and "batch_size=128" in out


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "model.npz"
    nets = {"q_net": nn.MLP([2, 3, 1], rng=0)}
    save_weights(path, nets)
    before = path.read_bytes()

    def broken(f):
        f.write(b"partial")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    fresh = {"q_net": nn.MLP([2, 3, 1], rng=1)}
    load_weights(path, fresh)
    for (_, a), (_, b) in zip(fresh["q_net"].state_dict().items(), nets["q_net"].state_dict().items()):
        np.testing.assert_array_equal(a, b)


def test_config_validation_messages():
    with pytest.raises(ValueError, match=r"invalid exploration_fraction=0\.0: expected a float in \(0, 1\]"):
        dataclasses.replace(OffPolicyConfig(), exploration_fraction=0.0).validate()
