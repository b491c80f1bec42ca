"""tinygrad_rl.arrays: returns, GAE, tie-breaking, softmax, schedules and seeding."""
import numpy as np
import pytest

from tinygrad_rl import arrays


def test_discounted_returns_by_hand():
    # G2 = 3, G1 = 2 + 0.5*3 = 3.5, G0 = 1 + 0.5*3.5 = 2.75
    np.testing.assert_allclose(arrays.discounted_returns([1, 2, 3], 0.5), [2.75, 3.5, 3.0])
    # An episode end at t=1 restarts the sum; bootstrap feeds the unfinished tail.
    np.testing.assert_allclose(arrays.discounted_returns([1, 2, 3], 0.5, dones=[False, True, False], bootstrap=10.0),
                               [2.0, 2.0, 8.0])
    # Several envs side by side (T, N).
    out = arrays.discounted_returns(np.array([[1.0, 0.0], [1.0, 1.0]]), 1.0)
    np.testing.assert_allclose(out, [[2.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="gamma must be in"):
        arrays.discounted_returns([1.0], 1.5)
    with pytest.raises(ValueError, match="dones shape"):
        arrays.discounted_returns([1.0, 2.0], 0.9, dones=[True])


def test_gae_by_hand_with_termination_and_truncation():
    r, v, nv = [1.0, 2.0, 3.0], [0.5, 1.0, 1.5], [1.0, 1.5, 2.0]
    no = [False] * 3
    # deltas: 1.4, 2.35, 3.3;  A2 = 3.3, A1 = 2.35 + 0.45*3.3, A0 = 1.4 + 0.45*A1
    adv, ret = arrays.gae(r, v, nv, no, no, gamma=0.9, lam=0.5)
    np.testing.assert_allclose(adv, [1.4 + 0.45 * 3.835, 3.835, 3.3])
    np.testing.assert_allclose(ret, adv + np.array(v))
    # Terminated at t=1: no bootstrap (delta1 = 2 - 1) and no recursion across the end.
    adv, _ = arrays.gae(r, v, nv, [False, True, False], [False, True, False], gamma=0.9, lam=0.5)
    np.testing.assert_allclose(adv, [1.4 + 0.45 * 1.0, 1.0, 3.3])
    # Truncated at t=1: bootstraps from V(final obs) = nv[1], but still no recursion across it.
    adv, _ = arrays.gae(r, v, nv, no, [False, True, False], gamma=0.9, lam=0.5)
    np.testing.assert_allclose(adv, [1.4 + 0.45 * 2.35, 2.35, 3.3])


def test_gae_with_lambda_one_gives_discounted_returns():
    rng = np.random.default_rng(0)
    rewards, values = rng.standard_normal(6), rng.standard_normal(7)
    _, returns = arrays.gae(rewards, values[:-1], values[1:], [False] * 6, [False] * 6, gamma=0.95, lam=1.0)
    np.testing.assert_allclose(returns, arrays.discounted_returns(rewards, 0.95, bootstrap=values[-1]))
    with pytest.raises(ValueError, match="gae: values shape"):
        arrays.gae(rewards, values, values[1:], [False] * 6, [False] * 6, 0.9, 0.9)
    with pytest.raises(ValueError, match="lam must be in"):
        arrays.gae(rewards, values[:-1], values[1:], [False] * 6, [False] * 6, 0.9, 1.2)


@pytest.mark.parametrize("pick", [
    lambda q, rng: arrays.argmax_random_tiebreak(q, rng),
    lambda q, rng: arrays.argmax_random_tiebreak_1d(q, rng),
    lambda q, rng: arrays.argmax_random_tiebreak_1d(np.concatenate([q, np.full(20, -9.0)]), rng),
], ids=["nd", "1d-short", "1d-long"])
def test_argmax_breaks_ties_uniformly(pick):
    rng = np.random.default_rng(0)
    q = np.array([1.0, 3.0, 0.0, 3.0, 3.0])
    counts = np.bincount([pick(q, rng) for _ in range(6000)], minlength=5)
    assert counts[0] == counts[2] == 0
    # Each tied action ~2000 of 6000; a binomial sd is ~37, so 150 is a four-sigma margin.
    assert np.all(np.abs(counts[[1, 3, 4]] - 2000) < 150)
    assert pick(np.array([0.0, 5.0, 1.0]), rng) == 1


def test_argmax_random_tiebreak_over_rows_and_errors():
    rng = np.random.default_rng(0)
    q = np.array([[0.0, 1.0], [2.0, 2.0], [5.0, -1.0]])
    choices = np.array([arrays.argmax_random_tiebreak(q, rng) for _ in range(200)])
    assert np.all(choices[:, 0] == 1) and np.all(choices[:, 2] == 0)
    assert set(choices[:, 1]) == {0, 1}
    with pytest.raises(ValueError, match="empty"):
        arrays.argmax_random_tiebreak(np.array([]), rng)


def test_softmax_temperature_and_stability():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(arrays.softmax(x), np.exp(x) / np.exp(x).sum())
    np.testing.assert_allclose(arrays.softmax(x, temperature=1e-3), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(arrays.softmax(x, temperature=1e6), [1 / 3] * 3, rtol=1e-5)
    big = arrays.softmax(np.array([1e4, -1e4, 1e4]))
    np.testing.assert_allclose(big, [0.5, 0.0, 0.5])
    assert arrays.logsumexp(np.array([1e4, 1e4])) == pytest.approx(1e4 + np.log(2))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        arrays.softmax(x, temperature=0)


def test_schedules():
    eps = arrays.linear_schedule(1.0, 0.1, 10)
    assert [eps(t) for t in (0, 5, 10, 50)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    decay = arrays.exponential_schedule(1.0, 0.05, 0.5)
    assert [decay(t) for t in (0, 1, 2, 10)] == pytest.approx([1.0, 0.5, 0.25, 0.05])
    assert arrays.constant_schedule(0.3)(99) == 0.3
    with pytest.raises(ValueError, match="duration must be > 0"):
        arrays.linear_schedule(1.0, 0.0, 0)
    with pytest.raises(ValueError, match="decay must be in"):
        arrays.exponential_schedule(1.0, 0.0, 1.5)


def test_seeding_is_reproducible():
    assert arrays.spawn_seeds(7, 3) == arrays.spawn_seeds(7, 3)
    assert len(set(arrays.spawn_seeds(7, 3))) == 3 and arrays.spawn_seeds(7, 3) != arrays.spawn_seeds(8, 3)
    a, b = arrays.make_rng(5), arrays.make_rng(5)
    assert a.random() == b.random()
    g = np.random.default_rng(0)
    assert arrays.make_rng(g) is g
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        arrays.make_rng(-1)
