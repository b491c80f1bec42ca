"""An on-policy run stops at exactly --steps env steps (its last vector step counts only the sub-envs
the budget allows), and its progress bar ends at its total, never past it."""
import csv
import json
import re

import numpy as np
import pytest

from algorithms.buffers import Rollout
from algorithms.loops.on_policy import on_policy_rollout
from algorithms.networks import EnvSpaces, actor_critic_networks
from algorithms.presets import load_preset
from algorithms.runs.cli import main


@pytest.mark.parametrize("algo, steps", [("a2c", 2000), ("ppo", 3000), ("a2c", 2003), ("ppo", 517)])
def test_on_policy_runs_stop_at_exactly_their_step_budget_and_the_bar_ends_at_its_total(algo, steps, tmp_path,
                                                                                          capfd):
    out = tmp_path / "run"
    assert main(["train", algo, "CartPole-v1", "--steps", str(steps), "--out", str(out),
                 "--set", "eval_episodes=2", "--set", "eval_every=1000"]) == 0
    err = capfd.readouterr().err
    assert f"{steps}/{steps}" in err.replace(",", "")                    # the bar reached its total ...
    bar_counts = [int(n) for n, total in re.findall(r"(\d+)/(\d+) ", err) if int(total) == steps]
    assert bar_counts and max(bar_counts) == steps                         # ... and never went past it
    with open(out / "checkpoint.json") as f:
        assert json.load(f)["env_step"] == steps
    with open(out / "metrics.csv") as f:
        assert max(int(row["env_step"]) for row in csv.DictReader(f)) <= steps
    assert load_preset(algo, "CartPole-v1").n_envs > 1                   # a vector of envs: the case that overshot


def test_a_sub_env_cut_by_the_budget_bootstraps_where_it_was_cut():
    """The row before an uncounted one is the end of that sub-env's rollout: its advantage is
    r + gamma V(s') - V(s), with nothing from the uncounted step."""
    spaces = EnvSpaces(obs_dim=4, discrete=True, n_actions=2)
    config = load_preset("a2c", "CartPole-v1")
    ac = actor_critic_networks(spaces, config, seed=0)["actor_critic"]
    rng = np.random.default_rng(0)
    T, N = 3, 2
    obs, next_obs = rng.standard_normal((T, N, 4)), rng.standard_normal((T, N, 4))
    r = {"obs": obs, "next_obs": next_obs, "actions": rng.integers(0, 2, (T, N)), "rewards": np.ones((T, N)),
         "terminated": np.zeros((T, N), bool), "truncated": np.zeros((T, N), bool), "valid": np.ones((T, N), bool)}
    r["valid"][T - 1, 1] = False                                        # sub-env 1's last step is not counted
    cut = on_policy_rollout(r, ac, 0.99, 0.95)
    assert isinstance(cut, Rollout) and len(cut) == T * N - 1
    whole = {k: v[:T - 1] for k, v in r.items()}                        # the same data without that step
    shorter = on_policy_rollout(whole, ac, 0.99, 0.95)
    # Sub-env 1's rows (odd positions among the first two steps) get the advantages of a rollout that ended there.
    np.testing.assert_allclose(cut.advantages[[1, 3]], shorter.advantages[[1, 3]])
