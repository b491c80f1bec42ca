"""Dynamic programming: textbook values, VI/PI agreement, real-env performance, bad input."""
import numpy as np
import pytest

from algorithms.tabular.dp import action_values, policy_evaluation, policy_iteration, value_iteration
from envs_wrappers import GridWorld, make_env, policy_rollouts, tabular_model

THETA = 1e-10


def _model(name):
    return tabular_model(GridWorld() if name == "GridWorld" else make_env(name))


def test_gridworld_random_policy_matches_sutton_barto_figure_4_1():
    P, R, _ = _model("GridWorld")
    result = policy_evaluation(P, R, np.full((16, 4), 0.25), gamma=1.0, theta=1e-6)
    expected = np.array([[0, -14, -20, -22], [-14, -18, -20, -20],
                         [-20, -20, -18, -14], [-22, -20, -14, 0]], dtype=float)
    np.testing.assert_allclose(result.values.reshape(4, 4), expected, atol=0.01)


@pytest.mark.parametrize("name, gamma", [("GridWorld", 1.0), ("FrozenLake-v1", 0.99),
                                         ("FrozenLake8x8-v1", 0.99), ("Taxi-v4", 0.99)])
def test_value_and_policy_iteration_agree(name, gamma):
    P, R, terminal = _model(name)
    vi = value_iteration(P, R, gamma, THETA)
    pi = policy_iteration(P, R, gamma, THETA)
    np.testing.assert_allclose(vi.values, pi.values, atol=1e-6)
    # Equally good policies: each greedy policy's own value is the optimal value.
    for policy in (vi.policy, pi.policy):
        own = policy_evaluation(P, R, policy, gamma, THETA).values
        np.testing.assert_allclose(own, vi.values, atol=1e-6)
    # Bellman optimality holds at the solution, terminal values are 0.
    np.testing.assert_allclose(action_values(P, R, vi.values, gamma).max(axis=1), vi.values, atol=1e-8)
    assert np.all(vi.values[terminal] == 0.0)


def test_gridworld_optimal_values_are_minus_steps_to_nearest_corner():
    P, R, _ = _model("GridWorld")
    values = value_iteration(P, R, 1.0, THETA).values.reshape(4, 4)
    rows, cols = np.indices((4, 4))
    steps = np.minimum(rows + cols, (3 - rows) + (3 - cols))
    np.testing.assert_array_equal(values, -steps)


def test_frozenlake_value_iteration_policy_reaches_goal_in_real_env():
    env = make_env("FrozenLake-v1")                       # 4x4, slippery
    P, R, _ = tabular_model(env)
    policy = value_iteration(P, R, 0.99, THETA).policy
    rollouts = policy_rollouts(env, policy, 2000, seed=1000)
    assert (rollouts.last_rewards == 1.0).mean() >= 0.70                       # optimal is about 0.74 within 100 steps


def test_taxi_value_iteration_policy_return_and_value_match_real_rollouts():
    env = make_env("Taxi-v4")
    P, R, _ = model = tabular_model(env)
    discounted = value_iteration(P, R, 0.99, THETA)
    assert policy_rollouts(env, discounted.policy, 1000, seed=2000).returns.mean() >= 7.0
    # Taxi is deterministic: with gamma = 1 the optimal value of the start state IS the return of
    # the optimal episode. Bootstrapping past the drop-off would make values exceed the returns.
    undiscounted = value_iteration(P, R, 1.0, THETA)
    rollouts = policy_rollouts(env, undiscounted.policy, 300, seed=3000)
    assert rollouts.terminated.all()
    np.testing.assert_array_equal(rollouts.returns, undiscounted.values[rollouts.start_states])
    assert model.reachable[rollouts.start_states].all()


def test_cliffwalking_optimal_return_is_the_13_step_path():
    P, R, _ = _model("CliffWalking-v1")
    values = value_iteration(P, R, 1.0, THETA).values
    assert values[36] == -13.0 and values[47] == 0.0


def test_vectorised_backup_matches_a_per_state_loop_on_random_models():
    rng = np.random.default_rng(0)
    for n_states, n_successors in ((40, 3), (12, 12)):       # sparse layout, then dense layout
        n_actions = 3
        P = np.zeros((n_states, n_actions, n_states))
        for s in range(n_states):
            for a in range(n_actions):
                targets = rng.choice(n_states, size=n_successors, replace=False)
                P[s, a, targets] = rng.dirichlet(np.ones(n_successors))
        R = rng.normal(size=(n_states, n_actions))
        vi = value_iteration(P, R, 0.9, THETA)
        values = np.zeros(n_states)
        for _ in range(400):                                  # 0.9**400 ~ 5e-19
            values = np.array([max(R[s, a] + 0.9 * P[s, a] @ values for a in range(n_actions))
                               for s in range(n_states)])
        np.testing.assert_allclose(vi.values, values, atol=1e-8)
        assert policy_iteration(P, R, 0.9, THETA).values == pytest.approx(values, abs=1e-8)


def test_result_unpacks_and_counts():
    P, R, _ = _model("GridWorld")
    values, policy, iterations = value_iteration(P, R, 1.0, THETA)
    assert values.shape == (16,) and policy.dtype.kind == "i" and iterations == 4
    left_then_up = np.where(np.arange(16) % 4 > 0, 3, 0)     # proper: ends in the top-left corner
    result = policy_iteration(P, R, 1.0, THETA, initial_policy=left_then_up)
    np.testing.assert_array_equal(result.values, values)
    assert result.evaluation_sweeps >= result.iterations >= 1


def test_policy_evaluation_of_a_policy_that_never_ends_raises():
    P, R, _ = _model("GridWorld")
    always_up = np.zeros(16, dtype=int)                       # bottom-right corner is never reached
    with pytest.raises(RuntimeError, match="terminal"):
        policy_evaluation(P, R, always_up, gamma=1.0, max_sweeps=500)


def test_bad_input_is_rejected_with_clear_errors():
    P, R, _ = _model("GridWorld")
    broken = P.copy()
    broken[3, 1, 2] += 0.5
    with pytest.raises(ValueError, match=r"P\[3, 1, :\] sums to 1.5"):
        value_iteration(broken, R, 0.9)
    for gamma in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="gamma"):
            value_iteration(P, R, gamma)
    with pytest.raises(ValueError, match="R must have shape"):
        value_iteration(P, R[:, :2], 0.9)
    with pytest.raises(ValueError, match=r"\(S, A, S\)"):
        policy_iteration(P[:, :, :3], R, 0.9)
    with pytest.raises(ValueError, match="theta"):
        value_iteration(P, R, 0.9, theta=0.0)
    with pytest.raises(ValueError, match=r"policy actions must lie in \[0, 4\)"):
        policy_evaluation(P, R, np.full(16, 4), 0.9)
    with pytest.raises(ValueError, match="rows summing to 1"):
        policy_evaluation(P, R, np.full((16, 4), 0.3), 0.9)
    # gamma = 1 and no terminal states: a two-state cycle with reward 1 would never converge.
    cycle = np.zeros((2, 1, 2))
    cycle[0, 0, 1] = cycle[1, 0, 0] = 1.0
    with pytest.raises(ValueError, match="no terminal states"):
        value_iteration(cycle, np.ones((2, 1)), 1.0)
    assert value_iteration(cycle, np.ones((2, 1)), 0.5, THETA).values == pytest.approx([2.0, 2.0])
