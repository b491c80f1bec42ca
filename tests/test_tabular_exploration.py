"""Exploration strategies: sampled action frequencies match each definition; UCB tries all actions first."""
import numpy as np
import pytest
from scipy import stats

from algorithms.tabular import UCB, Boltzmann, EpsilonGreedy
from tinygrad_rl.arrays import linear_schedule

N_DRAWS = 20_000
# Fixed seeds make these tests deterministic; at this level a correct sampler fails for
# 1 seed in 10^4, a wrong distribution (off by ~0.02 in any action) fails essentially always.
P_VALUE_FLOOR = 1e-4


def draw_frequencies(strategy, q_row, state=0, seed=0, n=N_DRAWS):
    rng = np.random.default_rng(seed)
    return np.bincount([strategy.select(q_row, state, rng) for _ in range(n)], minlength=len(q_row))


def assert_matches(counts, probs):
    probs = np.asarray(probs, dtype=np.float64)
    assert counts[probs == 0].sum() == 0, f"impossible actions drawn: {counts}"
    support = probs > 0
    expected = probs[support] * counts.sum()
    if support.sum() > 1:
        p_value = stats.chisquare(counts[support], expected).pvalue
        assert p_value > P_VALUE_FLOOR, f"counts {counts} vs expected {expected} (p={p_value:.2g})"


def test_epsilon_greedy_frequencies_match_definition():
    q_row = np.array([1.0, 3.0, 3.0, 0.0])  # two tied greedy actions
    strategy = EpsilonGreedy(0.2)
    strategy.reset(1, 4)
    # epsilon / |A| everywhere, (1 - epsilon) split over the two maxima.
    expected = np.array([0.05, 0.45, 0.45, 0.05])
    np.testing.assert_allclose(strategy.probabilities(q_row, 0), expected)
    assert_matches(draw_frequencies(strategy, q_row), expected)


def test_greedy_ties_are_uniform_and_zero_epsilon_never_explores():
    strategy = EpsilonGreedy(0.0)
    strategy.reset(1, 3)
    counts = draw_frequencies(strategy, np.array([2.0, 2.0, -1.0]))
    assert counts[2] == 0
    assert_matches(counts, [0.5, 0.5, 0.0])


def test_boltzmann_frequencies_match_softmax():
    q_row = np.array([1.0, 2.0, 0.5, 0.0])
    temperature = 0.7
    strategy = Boltzmann(temperature)
    strategy.reset(1, 4)
    expected = np.exp(q_row / temperature) / np.exp(q_row / temperature).sum()
    np.testing.assert_allclose(strategy.probabilities(q_row, 0), expected, rtol=1e-12)
    assert_matches(draw_frequencies(strategy, q_row), expected)


def test_boltzmann_is_stable_for_large_values():
    strategy = Boltzmann(0.01)
    strategy.reset(1, 2)
    probs = strategy.probabilities(np.array([1000.0, 1000.01]), 0)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs, [1 / (1 + np.e), np.e / (1 + np.e)])


def test_ucb_tries_every_action_before_repeating_one():
    n_actions = 6
    strategy = UCB(c=0.5)
    strategy.reset(n_states=2, n_actions=n_actions)
    rng = np.random.default_rng(3)
    q_row = np.array([10.0, 0.0, -5.0, 1.0, 2.0, 3.0])  # action 0 is far better, still each is tried first
    for state in (0, 1):
        first_round = []
        for _ in range(n_actions):
            action = strategy.select(q_row, state, rng)
            strategy.observe(state, action)
            first_round.append(action)
        assert sorted(first_round) == list(range(n_actions)), first_round
    np.testing.assert_array_equal(strategy.counts, np.ones((2, n_actions)))


def test_ucb_choice_is_the_argmax_of_its_upper_bound():
    strategy = UCB(c=2.0)
    strategy.reset(1, 3)
    counts = np.array([10, 2, 5])
    for action, count in enumerate(counts):
        for _ in range(count):
            strategy.observe(0, action)
    q_row = np.array([1.0, 0.2, 0.6])
    bound = q_row + 2.0 * np.sqrt(np.log(counts.sum()) / counts)  # [1.98, 3.10, 2.24]
    assert strategy.select(q_row, 0, np.random.default_rng(0)) == int(np.argmax(bound)) == 1
    np.testing.assert_allclose(strategy.upper_bounds(q_row, 0), bound)
    np.testing.assert_array_equal(strategy.probabilities(q_row, 0), [0.0, 1.0, 0.0])


def test_ucb_splits_exact_ties_uniformly():
    strategy = UCB(c=1.0)
    strategy.reset(1, 3)
    for action in (0, 1, 2, 2):
        strategy.observe(0, action)
    q_row = np.array([0.0, 0.0, -5.0])  # actions 0 and 1: same Q, same count -> same bound
    bound = strategy.upper_bounds(q_row, 0)
    assert bound[0] == bound[1] > bound[2]
    assert_matches(draw_frequencies(strategy, q_row, n=4000), [0.5, 0.5, 0.0])


def test_epsilon_decays_per_episode_and_reset_restarts_schedule():
    strategy = EpsilonGreedy(linear_schedule(1.0, 0.1, 10))
    strategy.reset(1, 2)
    for _ in range(5):
        strategy.end_episode()
    assert strategy.epsilon == pytest.approx(0.55)
    for _ in range(20):
        strategy.end_episode()
    assert strategy.epsilon == pytest.approx(0.1)
    strategy.reset(1, 2)
    assert strategy.epsilon == 1.0


def test_boltzmann_temperature_anneals():
    strategy = Boltzmann(linear_schedule(2.0, 0.5, 3))
    strategy.reset(1, 2)
    temperatures = [strategy.temperature]
    for _ in range(4):
        strategy.end_episode()
        temperatures.append(strategy.temperature)
    np.testing.assert_allclose(temperatures, [2.0, 1.5, 1.0, 0.5, 0.5])


@pytest.mark.parametrize("make, message", [
    (lambda: EpsilonGreedy(1.5), "epsilon must be in"),
    (lambda: EpsilonGreedy(-0.1), "epsilon must be in"),
    (lambda: EpsilonGreedy("0.1"), "epsilon must be a number"),
    (lambda: Boltzmann(0.0), "temperature must be > 0"),
    (lambda: UCB(c=-1.0), "c must be a number >= 0"),
])
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_schedule_leaving_valid_range_raises_when_reached():
    strategy = EpsilonGreedy(lambda episode: 1.0 - 0.6 * episode)
    strategy.reset(1, 2)
    strategy.end_episode()
    with pytest.raises(ValueError, match="epsilon must be in"):
        strategy.end_episode()


def test_ucb_requires_reset():
    with pytest.raises(RuntimeError, match="reset"):
        UCB().select(np.zeros(2), 0, np.random.default_rng(0))
