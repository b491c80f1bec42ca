"""Monte Carlo prediction against exactly known values; on-policy MC control and exploring starts."""
import gymnasium as gym
import numpy as np
import pytest
from tabular_toy_envs import EndlessCorridor, RandomWalk

from algorithms.tabular import EpsilonGreedy, mc_control, mc_prediction
from envs_wrappers import make_env

UNIFORM = np.full((7, 2), 0.5)


@pytest.mark.parametrize("first_visit", [True, False])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_mc_prediction_matches_exact_random_walk_values(first_visit, gamma):
    env = RandomWalk()
    result = mc_prediction(env, UNIFORM, 2000, gamma=gamma, seed=0, first_visit=first_visit)
    exact = env.exact_values(gamma)  # gamma 1: 1/6, 2/6, ..., 5/6
    # Measured max error 0.009-0.017 over the four cases; sampling s.d. of the worst state is ~0.01.
    np.testing.assert_allclose(result.V, exact, atol=0.05)
    assert result.Q is None and result.algorithm == "mc_prediction"
    assert len(result.episode_returns) == 2000 and result.episode_lengths.min() >= 3


def test_mc_prediction_constant_alpha_and_policy_forms():
    env = RandomWalk()
    averaged = mc_prediction(env, UNIFORM, 3000, alpha=0.02, seed=1)
    np.testing.assert_allclose(averaged.V, env.exact_values(1.0), atol=0.12)
    # A deterministic "always right" policy as an action array: every inner state is worth 1.
    always_right = mc_prediction(env, np.ones(7, dtype=int), 50, seed=0)
    np.testing.assert_allclose(always_right.V[3:6], 1.0)
    # The same uniform policy given as a callable gives the same estimates up to sampling.
    as_callable = mc_prediction(env, lambda state, rng: int(rng.random() < 0.5), 2000, seed=0)
    np.testing.assert_allclose(as_callable.V, env.exact_values(1.0), atol=0.05)


def test_first_visit_and_every_visit_use_different_samples():
    env = RandomWalk()
    first = mc_prediction(env, UNIFORM, 200, seed=5, first_visit=True)
    every = mc_prediction(env, UNIFORM, 200, seed=5, first_visit=False)
    np.testing.assert_array_equal(first.episode_returns, every.episode_returns)  # same episodes
    assert not np.allclose(first.V, every.V)  # different averages of them


@pytest.mark.parametrize("first_visit", [True, False])
def test_mc_bootstraps_on_truncation(first_visit):
    # G = 1 + 0.5 + 0.25 + 0.125 * V(s_cut)  has the fixed point V = 2 = 1 / (1 - gamma).
    env = gym.wrappers.TimeLimit(EndlessCorridor(), max_episode_steps=3)
    result = mc_prediction(env, np.zeros(1, dtype=int), 300, alpha=0.5, gamma=0.5, seed=0,
                           first_visit=first_visit)
    assert result.V[0] == pytest.approx(2.0, abs=1e-6)
    control = mc_control(env, 300, alpha=0.5, gamma=0.5, exploration=EpsilonGreedy(0.0), seed=0)
    assert control.Q[0, 0] == pytest.approx(2.0, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_on_policy_mc_control_finds_the_goal_on_frozenlake(seed):
    env = make_env("FrozenLake-v1", is_slippery=False)
    result = mc_control(env, 2000, alpha=None, gamma=0.95, exploration=EpsilonGreedy(0.1), seed=seed)
    path = result.greedy_path(env)
    assert path[-1] == 15 and len(path) - 1 == 6, path  # the shortest route, 6 steps
    # Online success rate of the epsilon-soft policy in the last 500 episodes (measured 0.90 for seeds 0 and 1).
    assert result.episode_returns[-500:].mean() > 0.75


def test_exploring_starts_learns_random_walk_policy_and_rejects_exploration():
    env = RandomWalk()
    result = mc_control(env, 500, gamma=0.9, seed=0, exploring_starts=True)
    assert np.all(result.greedy_policy[1:6] == 1)  # go right towards the only reward
    with pytest.raises(ValueError, match="exploring_starts"):
        mc_control(env, 10, exploration=EpsilonGreedy(0.1), exploring_starts=True)


def test_same_seed_same_q_table():
    env = make_env("FrozenLake-v1")
    first = mc_control(env, 200, seed=3)
    second = mc_control(env, 200, seed=3)
    np.testing.assert_array_equal(first.Q, second.Q)


@pytest.mark.parametrize("kwargs, message", [
    (dict(alpha=-0.5), "alpha"),
    (dict(gamma=2.0), "gamma"),
    (dict(episodes=0), "episodes"),
])
def test_bad_input_raises(kwargs, message):
    env = RandomWalk()
    with pytest.raises(ValueError, match=message):
        mc_prediction(env, UNIFORM, **(dict(episodes=10) | kwargs))
    with pytest.raises(ValueError, match=message):
        mc_control(env, **(dict(episodes=10) | kwargs))


def test_bad_policy_raises():
    env = RandomWalk()
    with pytest.raises(ValueError, match="rows summing to 1"):
        mc_prediction(env, np.full((7, 2), 0.4), 10)
    with pytest.raises(ValueError, match=r"actions must lie in \[0, 2\)"):
        mc_prediction(env, np.full(7, 2), 10)
    with pytest.raises(ValueError, match="policy must be"):
        mc_prediction(env, np.zeros((3, 3)), 10)
