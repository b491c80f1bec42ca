"""Learning smoke tests: each trainer must still learn CartPole-v1 in a few seconds.

A uniformly random policy scores about 22 on CartPole and an untrained greedy network about
10-40; each short run below scored 134-500 on the seeds tried (0-3) when these settings were chosen, so
the threshold of 75 (20 deterministic episodes on a separate seed) fails only if learning broke.
The long runs that must reach 475 live in scripts/bench_solve.py.
"""
import gymnasium as gym
import pytest

from algorithms.loops.actors import greedy_actor
from algorithms.loops.env_runner import greedy_episodes_returns
from algorithms.loops.training_run import train
from algorithms.presets import load_preset

THRESHOLD = 75.0
SMALL_DQN = dict(total_steps=10_000, hidden=[64, 64], lr=1e-3, learning_starts=500, train_freq=4, gradient_steps=2,
                 target_update_interval=250, exploration_fraction=0.3, batch_size=64, max_grad_norm=10.0,
                 eval_every=5_000)
SMOKE = {
    "dqn": SMALL_DQN,
    "double_dqn": SMALL_DQN,
    "a2c": dict(total_steps=40_000, eval_every=20_000),          # preset otherwise (lr annealed over 40k)
    "ppo": dict(total_steps=30_000, eval_every=15_000),
    "reinforce": dict(total_steps=30_000, eval_every=15_000),
}


@pytest.mark.parametrize("algo", list(SMOKE))
def test_trainer_learns_cartpole(algo):
    check_learns(algo, {**SMOKE[algo], "seed": 1})


def test_shared_trunk_a2c_learns_cartpole():
    check_learns("a2c", {**SMOKE["a2c"], "total_steps": 80_000, "shared_trunk": True, "seed": 1})


def check_learns(algo, overrides):
    config = load_preset(algo, "CartPole-v1", overrides)
    result = train(algo, "CartPole-v1", config)
    assert not result.interrupted and result.env_steps >= config.total_steps
    env = gym.make("CartPole-v1")
    returns = greedy_episodes_returns(env, greedy_actor(algo, result.nets), 20, seed=2024)
    env.close()
    assert returns.mean() >= THRESHOLD, f"{algo}: mean greedy return {returns.mean():.1f} < {THRESHOLD}"
    episodes = [r for r in result.metrics.rows if r.get("episode_return") is not None]
    assert len(episodes) > 20 and all(r["episode_length"] > 0 for r in episodes)


def test_a_short_last_rollout_is_never_split_into_empty_minibatches():
    # 16 envs x 256 steps in 64 minibatches, but the budget ends 12 steps into a rollout: the last
    # rollout has 12 rows (the run stops at exactly its budget), fewer than 64 minibatches.
    config = load_preset("ppo", "Acrobot-v1", {"total_steps": 4096 + 12, "n_steps": 256, "n_envs": 16,
                                               "n_minibatches": 64, "hidden": [8], "eval_every": 10_000})
    result = train("ppo", "Acrobot-v1", config)
    assert result.env_steps == 4096 + 12
