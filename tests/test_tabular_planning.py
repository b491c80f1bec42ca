"""Dyna-Q, Dyna-Q+ and prioritized sweeping: the book's qualitative results (S&B chapter 8) on a few
fixed seeds with margin, the shared TD code, the model, the per-step record, bad input."""
import gymnasium as gym
import numpy as np
import pytest

from algorithms.tabular import (
    DeterministicModel,
    EpsilonGreedy,
    PlanningResult,
    TabularResult,
    dyna_q,
    dyna_q_plus,
    prioritized_sweeping,
    q_learning,
)
from envs_wrappers import MAZE_IDS, BlockingMaze, DynaMaze, ShortcutMaze, make_env

SEEDS = range(4)


# --------------------------------------------------------------------------- the book's results

def test_dyna_q_with_50_planning_steps_finds_a_near_optimal_path_in_a_few_episodes():
    """Figure 8.2: with n = 50 episodes 3-10 take about the 14-step path (plus epsilon detours);
    without planning (n = 0) they still wander for hundreds of steps."""
    env = DynaMaze()
    planned = [dyna_q(env, 10, 50, alpha=0.1, gamma=0.95, seed=seed) for seed in SEEDS]
    unplanned = [dyna_q(env, 10, 0, alpha=0.1, gamma=0.95, seed=seed) for seed in SEEDS]
    planned_steps = np.mean([r.episode_lengths[2:].mean() for r in planned])
    unplanned_steps = np.mean([r.episode_lengths[2:].mean() for r in unplanned])
    assert planned_steps < 22, planned_steps                     # measured 17.1 (optimum 14, epsilon 0.1)
    assert unplanned_steps > 5 * planned_steps, (unplanned_steps, planned_steps)   # measured ~270
    assert all(env.greedy_path_length(r.Q) <= 16 for r in planned)
    assert all(env.greedy_path_length(r.Q) is None for r in unplanned)


def test_dyna_q_plus_finds_the_shortcut_and_dyna_q_does_not():
    """Figure 8.5: in the 3000 steps after the shortcut opens, Dyna-Q+ switches to it. Over the last
    1000 steps, more than 1000 / 16 = 62.5 episodes (reward 1 each) are only possible on the 10-step
    shortcut, since every other path takes at least 16 steps."""
    env = ShortcutMaze(change_at=3000)
    plus = [dyna_q_plus(env, None, 10, 1.0, 0.95, None, seed, kappa=1e-3, total_steps=6000) for seed in SEEDS]
    plain = [dyna_q(env, None, 10, 1.0, 0.95, None, seed, total_steps=6000) for seed in SEEDS]
    long_path_limit = 1000 / 16
    assert all(r.step_rewards[-1000:].sum() > long_path_limit + 8 for r in plus)      # measured 77-84
    assert all(r.step_rewards[-1000:].sum() <= long_path_limit for r in plain)        # measured 52-57
    assert all(env.greedy_path_length(r.Q) == 16 for r in plain)                      # still the long way
    # Measured 2 of 4: Dyna-Q+'s Q also holds bonus value, which can lead the greedy path elsewhere.
    assert sum(env.greedy_path_length(r.Q) == 10 for r in plus) >= 1


def test_dyna_q_plus_recovers_from_the_blocking_change_faster():
    """Figure 8.4: after the wall moves, Dyna-Q+ finds the new path in every run; Dyna-Q is slower."""
    env = BlockingMaze(change_at=1000)
    plus = [dyna_q_plus(env, None, 10, 1.0, 0.95, None, seed, kappa=1e-3, total_steps=3000) for seed in SEEDS]
    plain = [dyna_q(env, None, 10, 1.0, 0.95, None, seed, total_steps=3000) for seed in SEEDS]
    after_plus = [r.step_rewards[1000:].sum() for r in plus]
    after_plain = [r.step_rewards[1000:].sum() for r in plain]
    assert min(after_plus) > 60, after_plus                                           # measured 79-82
    assert np.mean(after_plus) > 1.5 * np.mean(after_plain), (after_plus, after_plain)  # measured 81 vs 38


def test_prioritized_sweeping_needs_fewer_updates_than_dyna_q_to_reach_the_optimal_path():
    """Example 8.4: updates until the greedy path is the 14-step shortest path, n = 5 for both."""
    env = DynaMaze()
    shortest = env.shortest_path_length()

    def optimal(Q):
        return env.greedy_path_length(Q) == shortest

    sweeping = [prioritized_sweeping(env, 3000, 5, 0.5, 0.95, None, seed, theta=1e-4, stop_when=optimal)
                for seed in range(3)]
    dyna = [dyna_q(env, 3000, 5, 0.5, 0.95, None, seed, stop_when=optimal) for seed in range(3)]
    assert all(r.stopped for r in sweeping + dyna)
    assert np.median([r.updates for r in dyna]) > 3 * np.median([r.updates for r in sweeping])


# --------------------------------------------------------------------------- shared code and records

def test_dyna_q_without_planning_is_q_learning_step_for_step():
    env = DynaMaze()
    planned = dyna_q(env, 20, 0, 0.1, 0.95, EpsilonGreedy(0.1), 3)
    learned = q_learning(env, 20, 0.1, 0.95, EpsilonGreedy(0.1), 3)
    np.testing.assert_array_equal(planned.Q, learned.Q)
    np.testing.assert_array_equal(planned.episode_lengths, learned.episode_lengths)
    assert planned.updates == planned.episode_lengths.sum()


@pytest.mark.parametrize("method", [dyna_q, dyna_q_plus, prioritized_sweeping])
def test_same_seed_same_run_and_the_step_record_adds_up(method):
    env = BlockingMaze(change_at=300)
    first = method(env, None, 5, 0.5, 0.95, None, 7, total_steps=700)
    second = method(env, None, 5, 0.5, 0.95, None, 7, total_steps=700)
    assert isinstance(first, PlanningResult) and isinstance(first, TabularResult)
    np.testing.assert_array_equal(first.Q, second.Q)
    assert len(first.step_rewards) == 700 and first.cumulative_reward[-1] == first.step_rewards.sum()
    # Finished episodes are recorded whole; the cut one only in step_rewards.
    assert first.episode_lengths.sum() <= 700 and first.episode_returns.sum() == first.step_rewards.sum()
    assert np.all(np.diff(first.episode_updates) >= 0) and first.updates >= first.episode_updates[-1]
    assert first.updates <= 6 * 700
    assert not first.stopped and first.algorithm == method.__name__


def test_episodes_and_total_steps_whichever_comes_first_and_stop_when():
    env = DynaMaze()
    assert len(dyna_q(env, 3, 5, seed=0, total_steps=100_000).episode_lengths) == 3
    assert len(dyna_q(env, 1000, 5, seed=0, total_steps=50).step_rewards) == 50
    stopped = dyna_q(env, 1000, 5, seed=0, stop_when=lambda Q: Q.max() > 0)
    assert stopped.stopped and len(stopped.episode_lengths) == 1     # the first episode reached the goal


def test_time_limit_truncation_ends_episodes():
    env = gym.make(MAZE_IDS["DynaMaze"], max_episode_steps=5)
    result = dyna_q(env, 6, 5, seed=0)
    assert result.episode_lengths.max() <= 5 and len(result.episode_lengths) == 6


def test_prioritized_sweeping_updates_at_most_n_per_step_and_nothing_below_theta():
    env = DynaMaze()
    result = prioritized_sweeping(env, 5, 3, 0.5, 0.95, None, 0)
    assert 0 < result.updates <= 3 * result.episode_lengths.sum()
    # Only the goal's reward of 1 makes a TD error; with theta above it nothing is ever queued.
    silent = prioritized_sweeping(env, 3, 3, 0.5, 0.95, None, 0, theta=1.5)
    assert silent.updates == 0 and not silent.Q.any()


def test_dyna_q_plus_plans_with_the_untried_actions_of_visited_states():
    """With kappa = 0 the untried actions are planned as staying put with reward 0, so their Q stays 0
    but they exist in the model; the bonus makes them (and long-untried pairs) worth exploring."""
    model = DeterministicModel(4, untried_actions=True)
    model.store(5, 1, 0.0, 6, False, time=3)
    assert len(model) == 4 and model[(5, 0)] == (0.0, 5, False) and model.last_tried[(5, 0)] == 0
    assert model.last_tried[(5, 1)] == 3 and model.leading_to(6) == {(5, 1)}
    model.store(5, 0, 0.0, 4, False, time=9)             # tried for real: the placeholder is replaced
    assert model[(5, 0)] == (0.0, 4, False) and (5, 0) not in model.leading_to(5)
    assert model.leading_to(4) == {(5, 0)} and len(model) == 4
    env = DynaMaze()
    bonus = dyna_q_plus(env, 3, 5, 0.5, 0.95, None, 0, kappa=1e-2)
    assert (bonus.Q > 0).sum() > (dyna_q(env, 3, 5, 0.5, 0.95, None, 0).Q > 0).sum()


def test_deterministic_model_overwrites_and_samples_uniformly():
    model = DeterministicModel(2)
    model.store(0, 0, 0.0, 1, False)
    model.store(0, 0, 1.0, 2, True)                      # the env changed: the latest transition wins
    assert model[(0, 0)] == (1.0, 2, True) and model.leading_to(1) == set() and len(model) == 1
    model.store(1, 1, 0.0, 0, False)
    rng = np.random.default_rng(0)
    draws = [model.sample(rng) for _ in range(2000)]
    assert 900 < draws.count((0, 0)) < 1100
    with pytest.raises(RuntimeError, match="empty"):
        DeterministicModel(2).sample(rng)


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, match", [
    (lambda env: dyna_q(env, 5, -1), "planning_steps"),
    (lambda env: dyna_q(env, 5, 2.5), "planning_steps"),
    (lambda env: dyna_q(env, None, 5), "neither"),
    (lambda env: dyna_q(env, 0, 5), "episodes"),
    (lambda env: dyna_q(env, None, 5, total_steps=0), "total_steps"),
    (lambda env: dyna_q(env, 5, 5, alpha=0.0), "alpha"),
    (lambda env: dyna_q(env, 5, 5, gamma=1.5), "gamma"),
    (lambda env: dyna_q_plus(env, 5, 5, kappa=-1e-3), "kappa"),
    (lambda env: dyna_q_plus(env, 5, 5, kappa=float("nan")), "kappa"),
    (lambda env: prioritized_sweeping(env, 5, 5, theta=-1.0), "theta"),
    (lambda env: dyna_q(make_env("CartPole-v1"), 5, 5), "Discrete observation_space"),
    (lambda env: DeterministicModel(0), "n_actions"),
])
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(DynaMaze())


def test_stop_when_must_be_callable():
    with pytest.raises(TypeError, match="stop_when"):
        dyna_q(DynaMaze(), 5, 5, stop_when=3)
