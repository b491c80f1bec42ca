"""TD control: CliffWalking (Sutton & Barto Example 6.6), determinism, targets, truncation, bad input."""
import gymnasium as gym
import numpy as np
import pytest
from tabular_toy_envs import EndlessCorridor

from algorithms.tabular import EpsilonGreedy, UnifiedAgent, expected_sarsa, q_learning, sarsa, td_target
from envs_wrappers import make_env

# CliffWalking 4x12: start 36 = (3, 0), goal 47 = (3, 11), cliff 37..46; row 2 runs along the cliff.
START, GOAL = 36, 47
CLIFF_EDGE_ROW = set(range(25, 35))  # (2, 1) .. (2, 10): the cells directly above the cliff
OPTIMAL_PATH = [36, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 47]
SEEDS = (0, 1)
# alpha 0.2 (not 0.5) so that the greedy policy read off SARSA's Q at the end of training is settled
# in every state along the safe path; epsilon 0.1 as in the book.
ALPHA, EPISODES = 0.2, 1000


@pytest.fixture(scope="module")
def cliff_runs():
    env = make_env("CliffWalking-v1")
    runs = {name: [fn(env, EPISODES, ALPHA, 1.0, EpsilonGreedy(0.1), seed) for seed in SEEDS]
            for name, fn in (("q_learning", q_learning), ("sarsa", sarsa))}
    return env, runs


def test_q_learning_greedy_path_is_the_13_step_path_along_the_cliff(cliff_runs):
    env, runs = cliff_runs
    for result in runs["q_learning"]:
        assert result.greedy_path(env) == OPTIMAL_PATH


def test_sarsa_greedy_path_keeps_away_from_the_cliff_edge(cliff_runs):
    env, runs = cliff_runs
    for result in runs["sarsa"]:
        path = result.greedy_path(env)
        assert path[0] == START and path[-1] == GOAL, path
        assert not CLIFF_EDGE_ROW & set(path), f"SARSA's greedy path walks along the cliff: {path}"
        assert len(path) - 1 > 13


def test_sarsa_online_return_beats_q_learning(cliff_runs):
    _, runs = cliff_runs
    last_100 = {name: np.mean([r.episode_returns[-100:].mean() for r in results])
                for name, results in runs.items()}
    # Measured: about -22 (SARSA) vs -45 (Q-learning, which falls off the cliff while exploring).
    assert last_100["sarsa"] > last_100["q_learning"] + 10, last_100


def test_same_seed_gives_identical_q_tables_and_other_seed_differs():
    env = make_env("CliffWalking-v1")
    first = q_learning(env, 50, 0.5, 1.0, EpsilonGreedy(0.1), seed=7)
    second = q_learning(env, 50, 0.5, 1.0, EpsilonGreedy(0.1), seed=7)
    other = q_learning(env, 50, 0.5, 1.0, EpsilonGreedy(0.1), seed=8)
    np.testing.assert_array_equal(first.Q, second.Q)
    np.testing.assert_array_equal(first.episode_returns, second.episode_returns)
    assert not np.array_equal(first.Q, other.Q)


def test_one_strategy_object_can_be_reused_across_runs():
    env = make_env("CliffWalking-v1")
    strategy = EpsilonGreedy(lambda episode: max(0.05, 1.0 - episode / 20))
    first = sarsa(env, 30, 0.5, 1.0, strategy, seed=3)
    second = sarsa(env, 30, 0.5, 1.0, strategy, seed=3)  # the decay restarts at episode 0
    np.testing.assert_array_equal(first.Q, second.Q)


def test_expected_sarsa_target_matches_definition():
    q_next = np.array([1.0, 2.0, 4.0])
    epsilon, reward, gamma = 0.3, -1.0, 0.9
    strategy = EpsilonGreedy(epsilon)
    strategy.reset(1, 3)
    pi = strategy.probabilities(q_next, 0)
    np.testing.assert_allclose(pi, [0.1, 0.1, 0.8])
    # r + gamma * (0.1 * 1 + 0.1 * 2 + 0.8 * 4) = -1 + 0.9 * 3.5
    assert td_target("expected_sarsa", reward, q_next, gamma, False, next_probs=pi) == pytest.approx(2.15)
    assert td_target("q_learning", reward, q_next, gamma, False) == pytest.approx(-1 + 0.9 * 4)
    assert td_target("sarsa", reward, q_next, gamma, False, next_action=1) == pytest.approx(-1 + 0.9 * 2)
    for algorithm in ("q_learning", "sarsa", "expected_sarsa"):
        assert td_target(algorithm, reward, q_next, gamma, True) == reward  # no bootstrap past termination

    # The agent's update uses exactly this target: Q(s,a) += alpha * (target - Q(s,a)).
    agent = UnifiedAgent("expected_sarsa", EpsilonGreedy(epsilon), alpha=0.5, gamma=gamma, n_states=2, n_actions=3)
    agent.Q[1] = q_next
    agent.Q[0, 2] = 1.0
    td_error = agent.update(0, 2, reward, 1, terminated=False)
    assert td_error == pytest.approx(2.15 - 1.0)
    assert agent.Q[0, 2] == pytest.approx(1.0 + 0.5 * (2.15 - 1.0))


@pytest.mark.parametrize("fn", [q_learning, sarsa, expected_sarsa])
def test_truncation_bootstraps(fn):
    # Q = 1 + gamma * Q  =>  Q = 1 / (1 - gamma) = 2 for gamma = 0.5, however short the time limit.
    # Treating the cut as a termination would instead pull Q towards 1 on every last step.
    env = gym.wrappers.TimeLimit(EndlessCorridor(), max_episode_steps=3)
    result = fn(env, 300, 0.1, 0.5, EpsilonGreedy(0.0), seed=0)
    assert result.Q[0, 0] == pytest.approx(2.0, abs=1e-6)
    assert np.all(result.episode_lengths == 3) and np.all(result.episode_returns == 3.0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(alpha=-0.1), "alpha"),
    (dict(alpha=0.0), "alpha"),
    (dict(alpha=1.5), "alpha"),
    (dict(gamma=1.5), "gamma"),
    (dict(gamma=-0.01), "gamma"),
    (dict(episodes=0), "episodes must be a positive int"),
    (dict(episodes=-5), "episodes must be a positive int"),
])
def test_bad_hyperparameters_raise_clearly(kwargs, message):
    env = make_env("CliffWalking-v1")
    call = dict(episodes=10, alpha=0.5, gamma=1.0) | kwargs
    with pytest.raises(ValueError, match=message) as error:
        q_learning(env, **call)
    bad_value = next(iter(kwargs.values()))
    assert repr(bad_value) in str(error.value)  # the message names the offending value


def test_continuous_observations_are_rejected_with_a_hint():
    with pytest.raises(ValueError, match="Discrete observation_space.*DiscretizeObservation"):
        sarsa(gym.make("CartPole-v1"), 10)
