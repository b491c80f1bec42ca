"""The algorithm seam: one registry, one loss contract, presets that extend, and user plugins.

The plugin example of the docs (docs/examples/munchausen_dqn.py, shown in the README and on the "Write your
own algorithm" page) is run here exactly as printed, through the CLI
in a subprocess; every registered algorithm is listed, trained briefly and evaluated, with and
without a preset table.
"""
import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from algorithms import registry
from algorithms.configs import OffPolicyConfig, OnPolicyConfig, apply_overrides, parse_value
from algorithms.losses import dqn_loss
from algorithms.model_based.known_rewards import pendulum_reward, register_reward
from algorithms.networks import OBSERVATION_CLIP, EnvSpaces, RunningMeanStd, actor_critic_networks, q_networks
from algorithms.presets import load_preset, preset_source, preset_table
from algorithms.runs.cli import main
from algorithms.runs.experiment import resume_training, run_training
from tinygrad_rl import nn

ROOT = Path(__file__).resolve().parents[1]
TINY = {"off_policy": ["--set", "learning_starts=50", "--set", "train_freq=4", "--set", "gradient_steps=1",
                       "--set", "batch_size=16"],
        "off_policy_continuous": ["--set", "learning_starts=50", "--set", "train_freq=2", "--set", "batch_size=16"],
        "on_policy": ["--set", "n_envs=2", "--set", "n_steps=16", "--set", "n_minibatches=2"],
        "episodic": ["--set", "episodes_per_update=1"],
        "model_based": ["--set", "random_steps=100", "--set", "train_every=100", "--set", "model_epochs=1",
                        "--set", "population=8", "--set", "elites=2", "--set", "horizon=2",
                        "--set", "cem_iterations=1"]}


PLUGIN_EXAMPLE = ROOT / "docs" / "examples" / "munchausen_dqn.py"


def readme_plugin() -> str:
    """The plugin example file; the how-to page includes it, and the README prints it verbatim."""
    text = PLUGIN_EXAMPLE.read_text()
    assert '--8<-- "docs/examples/munchausen_dqn.py"' in (ROOT / "docs" / "howto" / "own_algorithm.md").read_text()
    match = re.search(r"<!-- plugin example: docs/examples/munchausen_dqn.py -->\n```python\n(.*?)```",
                      (ROOT / "README.md").read_text(), re.S)
    assert match and match.group(1) == text, "the README's plugin example differs from docs/examples/munchausen_dqn.py"
    return text


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "algorithms", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_readme_plugin_trains_and_evaluates_through_the_cli(tmp_path):
    (tmp_path / "munchausen_dqn.py").write_text(readme_plugin())
    run = tmp_path / "runs" / "m-dqn"
    proc = cli("train", "munchausen_dqn", "CartPole-v1", "--plugin", "munchausen_dqn.py", "--out", str(run),
               "--steps", "600", "--set", "hidden=16,16", "--set", "eval_every=300", "--set", "eval_episodes=2",
               *TINY["off_policy"], "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((run / "config.json").read_text())
    assert saved["algo"] == "munchausen_dqn"
    assert saved["config"]["munchausen_alpha"] == 0.9
    assert saved["config"]["lr"] == load_preset("dqn", "CartPole-v1").lr          # DQN's preset
    with open(run / "terms.csv") as f:
        assert {line.split(",")[1] for line in f.read().splitlines()[1:]} == {"total", "td", "lr"}
    proc = cli("eval", str(run), "--plugin", "munchausen_dqn.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads((run / "eval.json").read_text())
    # Without --plugin the run's algorithm is unknown: one line, exit 2, and nothing is imported.
    proc = cli("eval", str(run), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "unknown algorithm 'munchausen_dqn'" in proc.stderr and "--plugin" in proc.stderr
    proc = cli("list", "munchausen_dqn", "--plugin", "munchausen_dqn.py", cwd=tmp_path)
    assert proc.returncode == 0 and "CartPole-v1 (from CartPole-v1.toml [dqn])" in proc.stdout


@pytest.mark.parametrize("future", [False, True], ids=["as-printed", "future-annotations"])
def test_readme_plugin_fields_parse_by_their_type_with_either_annotation_style(tmp_path, future):
    """``--set`` on each of the plugin's own fields gives the field's type (float here), whether the
    plugin's annotations are classes (as printed) or strings (``from __future__ import annotations``):
    the run reaches its updates, which compare the values with numbers."""
    source = readme_plugin()
    assert "from __future__" not in source
    (tmp_path / "munchausen_dqn.py").write_text(("from __future__ import annotations\n" if future else "") + source)
    run = tmp_path / "run"
    own = {"entropy_tau": "0.05", "munchausen_alpha": "0.5", "log_pi_min": "-2"}
    sets = [arg for key, value in own.items() for arg in ("--set", f"{key}={value}")]
    proc = cli("train", "munchausen_dqn", "CartPole-v1", "--plugin", "munchausen_dqn.py", "--out", str(run),
               "--steps", "200", "--set", "hidden=8", "--set", "eval_every=200", "--set", "eval_episodes=1",
               *TINY["off_policy"], *sets, "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((run / "config.json").read_text())["config"]
    assert {key: saved[key] for key in own} == {"entropy_tau": 0.05, "munchausen_alpha": 0.5, "log_pi_min": -2.0}
    assert all(type(saved[key]) is float for key in own)
    with open(run / "terms.csv") as f:
        assert any(line.split(",")[1] == "td" for line in f.read().splitlines()[1:])   # it did update


def test_config_fields_parse_by_type_without_future_annotations():
    namespace = {}
    exec("import dataclasses\nfrom algorithms.configs import OffPolicyConfig\n"
         "@dataclasses.dataclass\nclass Quantiles(OffPolicyConfig):\n    n_quantiles: int = 32\n"
         "    kappa: float = 1.0\n    spread: bool = False\n"
         "    sizes: list[int] = dataclasses.field(default_factory=list)\n",
         namespace)
    cls = namespace["Quantiles"]
    assert OffPolicyConfig.__dataclass_fields__["lr"].type == "float"      # this module: strings
    assert cls.__dataclass_fields__["n_quantiles"].type is int              # a plugin's: classes
    assert [parse_value(cls, key, text) for key, text in
            (("n_quantiles", "8"), ("kappa", "2"), ("spread", "true"), ("sizes", "4,4"), ("lr", "1e-3"))] == \
        [8, 2.0, True, [4, 4], 1e-3]
    assert apply_overrides(cls(), {"n_quantiles": 8}).n_quantiles == 8
    with pytest.raises(ValueError, match="invalid value 'x' for n_quantiles: expected int"):
        parse_value(cls, "n_quantiles", "x")


def test_a_run_folder_never_imports_what_it_names(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "dqn", "CartPole-v1", "--steps", "200", "--out", str(run), "--no-progress",
                 "--set", "hidden=8", "--set", "eval_every=200", "--set", "eval_episodes=1",
                 *TINY["off_policy"]]) == 0
    (tmp_path / "payload.py").write_text(f"open({str(tmp_path / 'pwned')!r}, 'w').close()\n")
    config = json.loads((run / "config.json").read_text())
    for env_id in ("payload:CartPole-v1", "this:CartPole-v1"):
        (run / "config.json").write_text(json.dumps({**config, "env_id": env_id}))
        proc = cli("eval", str(run), cwd=tmp_path)
        assert proc.returncode == 2 and "names a module to import" in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "pwned").exists()
    for bad, message in (({**config, "env_id": "Pendulum-v1"}, "Q-networks need a Discrete action space"),
                         ({**config, "algo": "os.system"}, "unknown algorithm 'os.system'"),
                         ([1, 2], "expected a JSON object")):
        (run / "config.json").write_text(json.dumps(bad))
        capsys.readouterr()
        assert main(["eval", str(run)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


# A Box-action env that no preset file names: Pendulum's dynamics under another id, with Pendulum's
# reward registered for planners (a user's env made plannable with register_reward).
NO_PRESET_BOX_ENV = "UntabledPendulum-v1"
if NO_PRESET_BOX_ENV not in gym.envs.registry:
    gym.register(NO_PRESET_BOX_ENV, entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv",
                 max_episode_steps=200)
register_reward(NO_PRESET_BOX_ENV, pendulum_reward, replace=True)


def seam_envs(spec) -> tuple[str, str]:
    """(an env with a preset table, one without) for the algorithm's loop."""
    if spec.loop.envs is not None:
        # A loop for some envs only (a planner needs each env's reward): one of them of each kind.
        supported = spec.loop.envs()
        assert NO_PRESET_BOX_ENV in supported
        preset_env = next(env for env in supported if preset_source(spec.name, env) is not None)
        return preset_env, NO_PRESET_BOX_ENV
    if spec.loop.name == "off_policy_continuous":
        return "Pendulum-v1", NO_PRESET_BOX_ENV
    # CartPole and MountainCar (Discrete) or its Box-action twin.
    return "CartPole-v1", "MountainCar-v0" if spec.loop.name == "off_policy" else "MountainCarContinuous-v0"


@pytest.mark.parametrize("name", registry.algorithm_names())
def test_every_registered_algorithm_is_listed_trains_and_evaluates(name, tmp_path, capsys):
    assert main(["list"]) == 0
    assert f"\n{name}: " in "\n" + capsys.readouterr().out
    spec = registry.get_algorithm(name)
    preset_env, no_preset_env = seam_envs(spec)
    assert preset_source(name, preset_env) is not None and preset_source(name, no_preset_env) is None
    for env_id in (preset_env, no_preset_env):
        run = tmp_path / env_id
        status = main(["train", name, env_id, "--steps", "300", "--out", str(run), "--no-progress",
                       "--set", "hidden=8", "--set", "eval_every=300", "--set", "eval_episodes=1",
                       *TINY[spec.loop.name], "--json"])
        out, err = capsys.readouterr()
        assert status == 0, err
        assert ("no preset for" in err) == (env_id == no_preset_env)
        result = json.loads(out.splitlines()[-1])
        # Episodic loops finish the episode they are in (MountainCarContinuous: 999 steps).
        limit = 300 + (999 if spec.loop.name == "episodic" else 200)
        assert 300 <= result["env_steps"] < limit and np.isfinite(result["mean_return"])
        assert main(["eval", str(run), "--episodes", "2"]) == 0
        assert json.loads(capsys.readouterr().out)["episodes"] == 2


def test_observation_statistics_are_saved_with_the_weights_and_used_by_eval(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ppo", "Pendulum-v1", "--steps", "800", "--out", str(run), "--no-progress",
                 "--set", "normalize_observations=true", "--set", "normalize_rewards=true",
                 "--set", "hidden=8", "--set", "eval_every=800", "--set", "eval_episodes=1",
                 *TINY["on_policy"]]) == 0
    capsys.readouterr()
    with np.load(run / "model.npz", allow_pickle=False) as saved:
        assert saved["obs_normalizer/count"] > 800 and saved["obs_normalizer/mean"].shape == (3,)
        assert "actor_critic/log_std" in saved.files
    assert main(["eval", str(run)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((run / "eval.json").read_text())


def test_running_statistics_of_streamed_batches_match_the_whole_stream():
    # Chan et al.'s parallel update: batches of any sizes give the mean and variance of all rows
    # (up to the prior count of 1e-4 rows at mean 0, variance 1).
    rows = np.random.default_rng(0).normal([3.0, -2.0], [0.5, 4.0], size=(1000, 2))
    stats = RunningMeanStd((2,))
    for batch in np.split(rows, [1, 17, 400, 401]):
        stats.update(batch)
    np.testing.assert_allclose(stats.mean, rows.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, rows.var(axis=0), rtol=1e-5)
    assert stats.count == pytest.approx(1000 + 1e-4)


def test_normalised_observations_are_clipped_where_a_feature_was_constant_so_far():
    # LunarLander's leg contacts are 0 until the first touchdown: variance 0, so a 1 would be
    # over a hundred deviations away; the actor-critic's normalizer clips at OBSERVATION_CLIP.
    nets = actor_critic_networks(EnvSpaces(2, True, 2), OnPolicyConfig(normalize_observations=True, hidden=[4]), 0)
    normalizer = nets["obs_normalizer"]
    normalizer.update(np.array([[0.0, -1.0], [0.0, 1.0]]))
    z = normalizer.normalize(np.array([[1.0, 1.0], [-1.0, 0.0]]))
    np.testing.assert_allclose(z, [[OBSERVATION_CLIP, 1.0], [-OBSERVATION_CLIP, 0.0]], rtol=1e-6, atol=1e-6)
    unclipped = RunningMeanStd((2,))
    unclipped.update(np.array([[0.0, -1.0], [0.0, 1.0]]))
    assert unclipped.normalize(np.array([[1.0, 1.0]]))[0, 0] > 10 * OBSERVATION_CLIP
    with pytest.raises(ValueError, match="clip must be a float > 0"):
        RunningMeanStd((2,), clip=0.0)


# --------------------------------------------------------------------------- the registry


def test_register_algorithm_refuses_what_would_break_the_seam():
    with pytest.raises(ValueError, match="already registered"):
        registry.register_algorithm("dqn", loss=dqn_loss, loop="off_policy")
    with pytest.raises(ValueError, match="lower_snake_case"):
        registry.register_algorithm("My DQN", loss=dqn_loss, loop="off_policy")
    with pytest.raises(TypeError, match="subclass of OffPolicyConfig"):
        registry.register_algorithm("bad_config", loss=dqn_loss, loop="off_policy", config=OnPolicyConfig)
    with pytest.raises(KeyError, match="unknown loop 'offpolicy'"):
        registry.register_algorithm("typo_loop", loss=dqn_loss, loop="offpolicy")
    with pytest.raises(ValueError, match="presets='nope' is not a registered algorithm"):
        registry.register_algorithm("bad_presets", loss=dqn_loss, loop="off_policy", presets="nope")
    assert not {"bad_config", "typo_loop", "bad_presets"} & set(registry.algorithm_names())


def test_a_loss_reads_its_own_hyperparameters_from_its_config():
    @dataclasses.dataclass
    class ScaledConfig(OffPolicyConfig):
        loss_scale: float = 3.0

    seen = []

    def scaled_loss(batch, nets, config):
        seen.append(config.loss_scale)
        loss, terms = dqn_loss(batch, nets, config)
        return loss * config.loss_scale, terms

    registry.register_algorithm("scaled_dqn", loss=scaled_loss, loop="off_policy", config=ScaledConfig,
                                presets="dqn")
    try:
        from algorithms.loops.training_run import train
        config = load_preset("scaled_dqn", "CartPole-v1", {"total_steps": 120, "learning_starts": 100,
                                                           "train_freq": 10, "gradient_steps": 1,
                                                           "loss_scale": 0.5})
        train("scaled_dqn", "CartPole-v1", config)
        assert seen == [0.5, 0.5]
    finally:
        registry.unregister_algorithm("scaled_dqn")


# --------------------------------------------------------------------------- presets


def test_presets_extend_reuse_and_come_from_a_user_file(tmp_path):
    user = tmp_path / "mine.toml"
    user.write_text('[base]\nlr = 0.01\nhidden = [32]\n\n'
                    '[a2c]\nextends = "base"\nentropy_coef = 0.2\n\n'
                    '[a2c."CartPole-v1"]\nlr = 0.02\n')
    assert preset_table("a2c", "Acrobot-v1", user) == {"lr": 0.01, "hidden": [32], "entropy_coef": 0.2}
    config = load_preset("a2c", "CartPole-v1", {"seed": 4}, preset_file=user)
    assert (config.lr, config.hidden, config.entropy_coef, config.seed) == (0.02, [32], 0.2, 4)
    assert preset_source("a2c", "CartPole-v1", user) == f"{user} [a2c]"
    assert preset_source("dqn", "CartPole-v1", user) == "CartPole-v1.toml [dqn]"     # not in the file
    (tmp_path / "cycle.toml").write_text('[a2c]\nextends = "b"\n[b]\nextends = "a2c"\n')
    with pytest.raises(ValueError, match="'extends' cycle a2c -> b -> a2c"):
        load_preset("a2c", "CartPole-v1", preset_file=tmp_path / "cycle.toml")
    (tmp_path / "bad.toml").write_text('[a2c]\nlearning_rate = 0.1\n')
    with pytest.raises(ValueError, match=r"bad.toml \[a2c\]: unknown key 'learning_rate'"):
        load_preset("a2c", "CartPole-v1", preset_file=tmp_path / "bad.toml")
    (tmp_path / "broken.toml").write_text('[a2c\n')
    with pytest.raises(ValueError, match="not valid TOML"):
        load_preset("a2c", "CartPole-v1", preset_file=tmp_path / "broken.toml")


def test_an_algorithm_without_any_table_uses_its_config_defaults():
    assert preset_source("ppo", "MountainCar-v0") is None
    assert load_preset("ppo", "MountainCar-v0") == registry.get_algorithm("ppo").config()


class Identity(nn.Module):
    """A module without parameters, as a plugin might keep beside its networks."""

    def forward(self, x):
        return x


def test_a_parameterless_module_among_the_nets_trains_resumes_and_evaluates(tmp_path, capsys):
    calls = {"n": 0, "crash_after": 60}      # after the first evaluation (step 200) wrote model.npz

    def networks(spaces, config, seed):
        return {**q_networks(spaces, config, seed), "identity": Identity()}

    def loss(batch, nets, config):
        calls["n"] += 1
        if calls["crash_after"] is not None and calls["n"] > calls["crash_after"]:
            raise RuntimeError("injected crash")
        return dqn_loss(batch, nets, config)

    registry.register_algorithm("dqn_with_identity", loss=loss, loop="off_policy", networks=networks)
    try:
        config = OffPolicyConfig(total_steps=400, hidden=[8], eval_every=200, eval_episodes=1, learning_starts=50,
                                 train_freq=4, gradient_steps=1, batch_size=16)
        run = tmp_path / "run"
        with pytest.raises(RuntimeError, match="injected crash"):
            run_training("dqn_with_identity", "CartPole-v1", config, run, progress=False, checkpoint_every=0)
        assert not any(key.startswith("identity/") for key in np.load(run / "model.npz").files)
        calls["crash_after"] = None
        summary = resume_training(run, progress=False, checkpoint_every=0)
        assert summary["env_steps"] >= 400 and not summary["interrupted"]
        assert main(["eval", str(run), "--episodes", "2"]) == 0
        assert json.loads(capsys.readouterr().out)["episodes"] == 2
    finally:
        registry.unregister_algorithm("dqn_with_identity")
