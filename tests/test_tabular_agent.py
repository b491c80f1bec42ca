"""UnifiedAgent: the TD functions are thin wrappers, potential-based shaping, evaluation, bad input."""
import numpy as np
import pytest
from tabular_toy_envs import RandomWalk

from algorithms.tabular import UCB, Boltzmann, EpsilonGreedy, UnifiedAgent, expected_sarsa, q_learning, sarsa
from envs_wrappers import make_env

OPTIMAL_CLIFF_PATH = [36, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 47]


def cliff_potential() -> np.ndarray:
    """phi(s) = -(Manhattan distance from s to the goal (3, 11)) on the 4x12 CliffWalking grid."""
    rows, cols = np.divmod(np.arange(48), 12)
    return -(np.abs(rows - 3) + np.abs(cols - 11)).astype(np.float64)


@pytest.mark.parametrize("algorithm, fn", [("q_learning", q_learning), ("sarsa", sarsa),
                                           ("expected_sarsa", expected_sarsa)])
def test_functions_are_the_agent(algorithm, fn):
    env = make_env("CliffWalking-v1")
    from_function = fn(env, 40, 0.5, 0.9, EpsilonGreedy(0.2), seed=11)
    from_agent = UnifiedAgent(algorithm, EpsilonGreedy(0.2), 0.5, 0.9, seed=11).train(env, 40)
    np.testing.assert_array_equal(from_function.Q, from_agent.Q)
    np.testing.assert_array_equal(from_function.episode_lengths, from_agent.episode_lengths)


def test_train_then_evaluate_greedy_policy_on_cliffwalking():
    env = make_env("CliffWalking-v1")
    agent = UnifiedAgent("q_learning", EpsilonGreedy(0.1), alpha=0.5, gamma=1.0, seed=0)
    result = agent.train(env, 200)
    assert result.Q.shape == (48, 4) and len(result.episode_returns) == 200
    np.testing.assert_array_equal(result.V, result.Q.max(axis=1))
    np.testing.assert_array_equal(agent.evaluate(env, 5, seed=0), np.full(5, -13.0))
    # Training continues from the same table.
    before = agent.Q.copy()
    agent.train(env, 5)
    assert not np.array_equal(before, agent.Q)


def test_shaping_term_is_gamma_phi_next_minus_phi():
    phi = np.array([0.0, 2.0, 5.0])
    agent = UnifiedAgent("q_learning", EpsilonGreedy(0.0), alpha=1.0, gamma=0.9, shaping=phi,
                         n_states=3, n_actions=2)
    # alpha = 1 and Q = 0: the new Q(s, a) is the shaped target itself.
    agent.update(1, 0, reward=-1.0, next_state=2, terminated=False)
    assert agent.Q[1, 0] == pytest.approx(-1.0 + 0.9 * 5.0 - 2.0)
    # Terminal states have potential 0 (Ng et al. 1999), whatever phi says for that index.
    agent.update(1, 1, reward=-1.0, next_state=2, terminated=True)
    assert agent.Q[1, 1] == pytest.approx(-1.0 + 0.0 - 2.0)
    # A callable potential gives the same numbers.
    by_callable = UnifiedAgent("q_learning", alpha=1.0, gamma=0.9, shaping=lambda s: float(phi[s]),
                               n_states=3, n_actions=2)
    by_callable.update(1, 0, reward=-1.0, next_state=2, terminated=False)
    assert by_callable.Q[1, 0] == agent.Q[1, 0]


def test_potential_shaping_keeps_the_optimal_path_and_speeds_up_learning():
    env = make_env("CliffWalking-v1")
    plain = UnifiedAgent("q_learning", EpsilonGreedy(0.1), 0.5, 1.0, seed=0).train(env, 100)
    shaped = UnifiedAgent("q_learning", EpsilonGreedy(0.1), 0.5, 1.0, shaping=cliff_potential(),
                          seed=0).train(env, 100)
    assert plain.greedy_path(env) == shaped.greedy_path(env) == OPTIMAL_CLIFF_PATH
    # Measured with seed 0: 1773 vs 536 steps over the first 20 episodes.
    assert shaped.episode_lengths[:20].sum() < 0.5 * plain.episode_lengths[:20].sum()


@pytest.mark.parametrize("exploration", [UCB(1.0), Boltzmann(1.0)])
@pytest.mark.parametrize("algorithm", ["q_learning", "sarsa", "expected_sarsa"])
def test_every_algorithm_and_strategy_solves_cliffwalking(algorithm, exploration):
    env = make_env("CliffWalking-v1")
    agent = UnifiedAgent(algorithm, exploration, 0.5, 1.0, seed=0)
    agent.train(env, 300)
    np.testing.assert_array_equal(agent.evaluate(env, 2, seed=0), [-13.0, -13.0])


def test_select_action_follows_the_strategy_and_counts_for_ucb():
    agent = UnifiedAgent("sarsa", UCB(2.0), n_states=4, n_actions=3, seed=0)
    actions = [agent.select_action(2) for _ in range(3)]
    assert sorted(actions) == [0, 1, 2]
    np.testing.assert_array_equal(agent.exploration.counts[2], [1, 1, 1])


def test_sarsa_update_needs_next_action():
    agent = UnifiedAgent("sarsa", n_states=2, n_actions=2)
    with pytest.raises(ValueError, match="next_action"):
        agent.update(0, 0, 1.0, 1, terminated=False)
    agent.update(0, 0, 1.0, 1, terminated=True)  # no bootstrap, no next action needed
    assert agent.Q[0, 0] == pytest.approx(0.5)


def test_agent_bad_input():
    with pytest.raises(ValueError, match="algorithm must be one of"):
        UnifiedAgent("double_q")
    with pytest.raises(ValueError, match="alpha"):
        UnifiedAgent(alpha=-0.1)
    with pytest.raises(ValueError, match="gamma"):
        UnifiedAgent(gamma=1.01)
    with pytest.raises(TypeError, match="ExplorationStrategy"):
        UnifiedAgent(exploration=0.1)
    with pytest.raises(RuntimeError, match="no Q table yet"):
        UnifiedAgent().select_action(0)
    with pytest.raises(ValueError, match=r"shaping potential must have shape \(7,\)"):
        UnifiedAgent(shaping=np.zeros(3)).train(RandomWalk(), 1)
    agent = UnifiedAgent(n_states=3, n_actions=2)
    with pytest.raises(ValueError, match="Q table has shape"):
        agent.train(RandomWalk(), 1)
