"""State a loss may keep, shown with PPO's adaptive KL coefficient (``scripts/ppo_adaptive_kl.py``).

The coefficient beta changes between updates, never inside a loss evaluation: gradcheck's finite
differences leave it alone, a resumed run continues with exactly the saved value, and ``eval``
never builds it.
"""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithms.loops.metrics_log import MetricsLog
from algorithms.loops.training_run import TrainingRun
from algorithms.registry import get_algorithm, load_plugin, register_algorithm, unregister_algorithm
from algorithms.runs.cli import main
from algorithms.runs.experiment import evaluate_run, resume_training, run_training
from algorithms.runs.resume import RESUME_FILE, read_checkpoint
from algorithms.runs.study import check_loss_gradients, loss_setup

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ppo_adaptive_kl.py"
NAME = "ppo_adaptive_kl"
CRASHING = "ppo_adaptive_kl_crashing"
SMALL = {"n_envs": 2, "n_steps": 32, "n_epochs": 2, "n_minibatches": 2, "hidden": [8], "eval_episodes": 1}


@pytest.fixture
def plugin():
    load_plugin(str(SCRIPT))
    yield get_algorithm(NAME)
    unregister_algorithm(NAME)
    sys.modules.pop("tinygrad_rl_plugin_ppo_adaptive_kl", None)     # so the next load registers it again


def test_the_plugin_lists_and_passes_gradcheck_through_the_cli(plugin, capsys):
    assert main(["list", NAME, "--plugin", str(SCRIPT)]) == 0
    assert main(["gradcheck", NAME, "CartPole-v1", "--plugin", str(SCRIPT), "--set", "hidden=8",
                 "--set", "n_envs=2"]) == 0
    assert "8 of 8 parameters pass" in capsys.readouterr().out


def test_gradcheck_at_a_mid_run_coefficient_leaves_it_alone(plugin):
    config = plugin.config(**SMALL)
    spec, nets, batch = loss_setup(NAME, "CartPole-v1", config, 16)
    state = spec.new_state(config)
    state.load_state_dict({"beta": 4.0, "kl_sum": 0.003, "steps": 1})
    before = state.state_dict()
    check = check_loss_gradients(spec, nets, batch, config, state=state)
    assert check.passed
    assert state.state_dict() == before
    loss, terms = spec.evaluate(batch, nets, config, state)
    assert float(terms["kl_coef"].data) == 4.0


def test_the_coefficient_adapts_and_a_resume_restores_it_exactly(plugin, tmp_path):
    calls = {"n": 0, "crash_after": 42}      # 4 steps per policy update: the crash is inside the 11th

    def crashing_loss(batch, nets, config, state):
        calls["n"] += 1
        if calls["crash_after"] is not None and calls["n"] > calls["crash_after"]:
            raise RuntimeError("injected crash")
        return plugin.loss(batch, nets, config, state)

    register_algorithm(CRASHING, loss=crashing_loss, loop="on_policy", config=plugin.config, state=plugin.state)
    try:
        config = plugin.config(total_steps=1200, eval_every=600, **SMALL)
        run = tmp_path / "run"
        with pytest.raises(RuntimeError, match="injected crash"):
            run_training(CRASHING, "CartPole-v1", config, run, progress=False, checkpoint_every=0)
        saved = read_checkpoint(run / RESUME_FILE).parts["loss_state"]
        assert float(saved["beta"]) not in (0.0, config.kl_coef_init)       # it adapted before the crash

        # The run a resume builds, on a copy (restoring its metrics cuts the files back to the checkpoint).
        probe = shutil.copytree(run, tmp_path / "probe")
        metrics = MetricsLog(probe / "metrics.csv", probe / "terms.csv", append=True)
        resumed = TrainingRun(CRASHING, "CartPole-v1", config, None, False, metrics, checkpoint_every=None,
                              resume_from=read_checkpoint(probe / RESUME_FILE))
        try:
            restored = resumed.loss_state.state_dict()
        finally:
            resumed.close()
            metrics.close()
        assert restored == {key: type(restored[key])(value) for key, value in saved.items()}
        assert restored["beta"] == float(saved["beta"])

        calls["crash_after"] = None
        shutil.copytree(run, tmp_path / "copy")
        first = resume_training(run, progress=False, checkpoint_every=0)
        second = resume_training(tmp_path / "copy", progress=False, checkpoint_every=0)
        assert first == second and not first["interrupted"]
        terms = (run / "terms.csv").read_text()
        assert terms == (tmp_path / "copy" / "terms.csv").read_text() and ",kl_coef," in terms
        with np.load(run / "model.npz") as a, np.load(tmp_path / "copy" / "model.npz") as b:
            assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
            assert not any("beta" in name or "loss_state" in name for name in a.files)   # not a network
        assert evaluate_run(run, episodes=2)["episodes"] == 2                             # eval never needs it
    finally:
        unregister_algorithm(CRASHING)
