"""Statistics of the benchmark: IQM, bootstrap intervals, steps to threshold, profiles, summary rows."""
import numpy as np
import pytest

from algorithms.benchmark.stats import (
    aggregate,
    aggregate_solve_rates,
    iqm,
    learning_curve,
    performance_profile,
    smoothed_returns,
    steps_to_threshold,
    stratified_bootstrap_ci,
)


def test_iqm_is_the_mean_of_the_middle_half():
    scores = np.array([100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -50.0])
    # sorted: -50, 1, 2, 3, 4, 5, 6, 100 -> middle half 2, 3, 4, 5
    assert iqm(scores) == pytest.approx(3.5)


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible():
    scores = np.random.default_rng(3).normal(10.0, 2.0, size=10)
    low, high = stratified_bootstrap_ci([scores], np.mean)
    assert low < scores.mean() < high
    normal_width = 2 * 1.96 * scores.std(ddof=1) / np.sqrt(len(scores))  # +-1.96 standard errors
    assert 0.6 * normal_width < high - low < 1.2 * normal_width
    assert (low, high) == stratified_bootstrap_ci([scores], np.mean)


def test_bootstrap_interval_of_identical_scores_is_a_point_and_undefined_for_one_seed():
    low, high = stratified_bootstrap_ci([np.full(5, -13.0)], iqm)
    assert low == high == -13.0
    assert stratified_bootstrap_ci([np.array([1.0])], np.mean) is None


def test_stratified_bootstrap_resamples_within_each_task():
    # Two tasks with disjoint scores: every resample keeps 3 runs from each task, so the mean of
    # the pooled resample never leaves the range that a within-task resample allows.
    task_a, task_b = np.array([0.0, 0.1, 0.2]), np.array([10.0, 10.1, 10.2])
    low, high = stratified_bootstrap_ci([task_a, task_b], np.mean)
    assert 5.0 <= low <= high <= 5.2


def test_steps_to_threshold_uses_the_windowed_mean_and_counts_steps_to_that_episode():
    returns = [0.0] * 5 + [1.0] * 5
    lengths = [10] * 10
    # window 4: the mean of episodes 5..8 (0-based) is the first to reach 1.0 -> steps of 9 episodes
    assert steps_to_threshold(returns, lengths, 1.0, window=4) == 90
    assert steps_to_threshold(returns, lengths, 0.5, window=4) == 70   # episodes 4..7 mean 0.75
    assert steps_to_threshold(returns, lengths, 1.5, window=4) is None
    assert steps_to_threshold(returns[:3], lengths[:3], 0.0, window=4) is None


def test_smoothed_returns_average_over_available_episodes_at_the_start():
    np.testing.assert_allclose(smoothed_returns([2.0, 4.0, 6.0, 8.0], window=2), [2.0, 3.0, 5.0, 7.0])


def test_learning_curve_reads_each_run_as_a_step_function_of_env_steps():
    runs = [{"episode_returns": [0.0, 1.0], "episode_lengths": [5, 5]},
            {"episode_returns": [1.0, 1.0], "episode_lengths": [2, 8]}]
    steps, mean, low, high = learning_curve(runs, points=10, window=1)
    np.testing.assert_allclose(steps, np.arange(1, 11))
    # run 1: its first episode's 0 until its second episode ends at step 10; run 2: 1 throughout
    # (before a run's first episode ends, the curve holds that first episode's value)
    expected = np.mean([[0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [1] * 10], axis=0)
    np.testing.assert_allclose(mean, expected)
    assert np.all(low <= mean + 1e-12) and np.all(mean <= high + 1e-12)


def test_performance_profile_is_the_fraction_of_runs_above_tau():
    fraction, low, high = performance_profile(np.array([0.0, 1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 2.5, 3.0]))
    np.testing.assert_allclose(fraction, [1.0, 0.75, 0.25, 0.0])
    assert np.all(low <= fraction) and np.all(fraction <= high)


def _record(algorithm, seed, score, status="ok"):
    record = {"cell": {"algorithm": algorithm, "env": "E", "seed": seed, "budget": 4}, "status": status,
              "budget_unit": "episodes", "solve_threshold": 1.0, "wall_time_s": 0.5}
    if status == "ok":
        record.update(eval={"mean_return": score}, episode_returns=[0.0, 1.0, 1.0, 1.0],
                      episode_lengths=[3, 3, 3, 3], env_steps=12)
    else:
        record["error"] = "RuntimeError: boom"
    return record


def test_aggregate_counts_failures_apart_and_computes_solve_rate():
    records = {f"a|E|{s}": _record("a", s, score) for s, score in enumerate([0.0, 1.0, 2.0, 3.0])}
    records["a|E|4"] = _record("a", 4, None, status="failed")
    records["b|E|0"] = _record("b", 0, None, status="failed")
    row_a, row_b = aggregate(records)
    assert (row_a["seeds"], row_a["failed"]) == (4, 1)
    assert row_a["mean"] == pytest.approx(1.5)
    assert row_a["std"] == pytest.approx(np.std([0, 1, 2, 3], ddof=1))
    assert row_a["iqm"] == pytest.approx(1.5)
    assert row_a["iqm_ci_low"] <= row_a["iqm"] <= row_a["iqm_ci_high"]
    assert row_a["solve_rate"] == pytest.approx(0.75)
    assert row_a["median_steps_to_threshold"] is None  # 4 episodes < the 100-episode window
    assert (row_b["seeds"], row_b["failed"], row_b["mean"]) == (0, 1, None)


def test_solve_rate_across_envs_pools_runs_and_resamples_within_each_env():
    records = {}
    for env, scores in (("E", [0.0, 2.0, 2.0, 2.0]), ("F", [0.0, 0.0, 0.0, 2.0])):
        for seed, score in enumerate(scores):
            record = _record("a", seed, score)
            record["cell"]["env"] = env
            records[f"a|{env}|{seed}"] = record
    records["b|E|0"] = _record("b", 0, 5.0)        # one env only: left out
    (row,) = aggregate_solve_rates(records)
    assert (row["algorithm"], row["envs"], row["runs"]) == ("a", ["E", "F"], 8)
    assert row["solve_rate"] == pytest.approx(0.5)   # 3/4 on E, 1/4 on F
    # Every resample keeps 4 runs of E and 4 of F. A rate of 0 needs E's resample all unsolved and F's
    # too: (1/4)^4 * (3/4)^4 = 0.12% of resamples (1 likewise), so the 2.5% and 97.5% points lie inside.
    assert 0.0 < row["ci_low"] <= 0.5 <= row["ci_high"] < 1.0


def test_an_env_without_a_threshold_has_statistics_but_no_solve_rate():
    """MinAtar's games have no reward_threshold: their rows keep mean and IQM, their solve rate is None,
    and the rate across envs is computed from the envs that have one."""
    records = {}
    for env, threshold in (("E", 1.0), ("F", 1.0), ("G", None)):
        for seed, score in enumerate([0.0, 2.0, 2.0, 2.0]):
            record = _record("a", seed, score)
            record["cell"]["env"], record["solve_threshold"] = env, threshold
            records[f"a|{env}|{seed}"] = record
    rows = {row["env"]: row for row in aggregate(records)}
    assert rows["G"]["mean"] == pytest.approx(1.5) and rows["G"]["iqm"] == pytest.approx(2.0)
    assert rows["G"]["solve_rate"] is None and rows["G"]["median_steps_to_threshold"] is None
    assert rows["E"]["solve_rate"] == pytest.approx(0.75)
    (overall,) = aggregate_solve_rates(records)
    assert overall["envs"] == ["E", "F"] and overall["runs"] == 8
