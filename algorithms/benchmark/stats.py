"""Aggregates over seeds: mean, std, IQM with bootstrap confidence intervals, solve rate,
env steps to threshold, learning curves and performance profiles.

The score of a run is its final evaluation return (greedy / deterministic policy after
training). Per (algorithm, env):

- IQM, the interquartile mean: the mean of the middle 50% of the scores,
  ``scipy.stats.trim_mean(x, 0.25)``; robust to a few outlier seeds, more efficient than the
  median (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice", NeurIPS).
- 95% confidence intervals by the percentile bootstrap over seeds (``scipy.stats.bootstrap``,
  2000 resamples, a fixed generator so a report is reproducible). With several tasks,
  ``stratified_bootstrap_ci`` resamples the runs within each task separately (stratified
  bootstrap, as rliable does); on one (algorithm, env) it is the ordinary bootstrap over seeds.
- Solve rate: the fraction of seeds whose score reaches the env's threshold.
- Env steps to threshold: gym's original criterion for ``reward_threshold``: the first episode
  at which the mean training return over the last ``SOLVE_WINDOW`` episodes reaches the
  threshold; we report the env steps taken up to the end of that episode.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import stats as scipy_stats

from algorithms.benchmark.records import arm_label

__all__ = ["SOLVE_WINDOW", "N_RESAMPLES", "CONFIDENCE", "iqm", "stratified_bootstrap_ci", "steps_to_threshold",
           "smoothed_returns", "learning_curve", "learning_curve_by_episode", "performance_profile", "aggregate",
           "aggregate_solve_rates", "group_runs"]

SOLVE_WINDOW = 100
N_RESAMPLES = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


def iqm(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean after trimming 25% of the values at each end."""
    return scipy_stats.trim_mean(scores, 0.25, axis=axis)


def stratified_bootstrap_ci(samples: list[np.ndarray], statistic: Callable[[np.ndarray], np.ndarray],
                            axis: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """Percentile-bootstrap 95% CI of ``statistic`` over runs, resampling within each stratum.

    ``samples``: one array per stratum (task), runs along ``axis``. ``statistic`` receives the
    resampled strata concatenated along ``axis`` (a vectorised call with a leading resample
    axis, hence the ``axis`` argument). Returns (low, high), or None when some stratum has fewer
    than two runs (no spread to resample; the CI is undefined, not zero-width).
    """
    samples = [np.asarray(sample, dtype=np.float64) for sample in samples]
    if any(sample.shape[axis] < 2 for sample in samples):
        return None

    def joint(*strata, axis):
        return statistic(np.concatenate(strata, axis=axis), axis=axis)

    result = scipy_stats.bootstrap(tuple(samples), joint, n_resamples=N_RESAMPLES, confidence_level=CONFIDENCE,
                                   method="percentile", axis=axis, vectorized=True,
                                   rng=np.random.default_rng(BOOTSTRAP_SEED))
    return result.confidence_interval.low, result.confidence_interval.high


def steps_to_threshold(returns: list[float], lengths: list[int], threshold: float,
                       window: int = SOLVE_WINDOW) -> int | None:
    """Env steps until the mean return of the last ``window`` training episodes first reaches
    ``threshold``, or None if it never does (or there are fewer than ``window`` episodes)."""
    returns = np.asarray(returns, dtype=np.float64)
    if len(returns) < window:
        return None
    window_means = np.convolve(returns, np.ones(window) / window, mode="valid")
    reached = np.flatnonzero(window_means >= threshold)
    if len(reached) == 0:
        return None
    last_episode = reached[0] + window - 1
    return int(np.sum(np.asarray(lengths[: last_episode + 1], dtype=np.int64)))


def smoothed_returns(returns: list[float], window: int = SOLVE_WINDOW) -> np.ndarray:
    """Trailing moving average of the episode returns (over fewer episodes at the start)."""
    returns = np.asarray(returns, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(returns)])
    ends = np.arange(1, len(returns) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def _mean_with_band(curves: np.ndarray):
    """Mean over runs (axis 0) with its 95% bootstrap band (None, None with fewer than two runs)."""
    ci = stratified_bootstrap_ci([curves], np.mean, axis=0)
    low, high = (None, None) if ci is None else ci
    return curves.mean(axis=0), low, high


def learning_curve(runs: list[dict], points: int = 200, window: int = SOLVE_WINDOW):
    """Mean smoothed training return over seeds against env steps, with a 95% bootstrap band.

    Each run's smoothed curve is read as a step function of its cumulative env steps (the value
    of the last finished episode) on a common grid up to the shortest run's total, so every
    seed contributes to every point. Returns (steps, mean, low, high); low/high are None with
    fewer than two runs.
    """
    totals = [int(np.sum(run["episode_lengths"])) for run in runs]
    grid = np.linspace(0, min(totals), points + 1)[1:]
    curves = []
    for run in runs:
        ends = np.cumsum(run["episode_lengths"])
        curve = smoothed_returns(run["episode_returns"], window)
        index = np.clip(np.searchsorted(ends, grid, side="right") - 1, 0, len(curve) - 1)
        curves.append(curve[index])
    return (grid, *_mean_with_band(np.asarray(curves)))


def learning_curve_by_episode(runs: list[dict], window: int = SOLVE_WINDOW):
    """Mean smoothed training return over seeds against the episode number (1-based), up to the
    shortest run's episode count, with a 95% bootstrap band. Returns (episodes, mean, low, high)."""
    shortest = min(len(run["episode_returns"]) for run in runs)
    curves = np.asarray([smoothed_returns(run["episode_returns"], window)[:shortest] for run in runs])
    return (np.arange(1, shortest + 1), *_mean_with_band(curves))


def performance_profile(scores: np.ndarray, taus: np.ndarray):
    """Fraction of runs with score > tau for each tau, with a 95% bootstrap band over runs
    (Agarwal et al. 2021, section 4: score distributions). Returns (fraction, low, high)."""
    # Row i says which taus run i exceeds; resampling rows resamples runs.
    above = (np.asarray(scores, dtype=np.float64)[:, None] > np.asarray(taus)[None, :]).astype(np.float64)
    ci = stratified_bootstrap_ci([above], np.mean, axis=0)
    fraction = above.mean(axis=0)
    return (fraction, None, None) if ci is None else (fraction, *ci)


def group_runs(records: dict[str, dict]) -> dict[tuple[str, str], list[dict]]:
    """{(algorithm, env): records in seed order}, keeping the order in which pairs first appear.
    The algorithm is the cell's label: its name, with the config values a grid set (:func:`arm_label`)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in records.values():
        groups.setdefault((arm_label(record["cell"]), record["cell"]["env"]), []).append(record)
    for runs in groups.values():
        runs.sort(key=lambda record: record["cell"]["seed"])
    return groups


def aggregate(records: dict[str, dict]) -> list[dict]:
    """One summary row per (algorithm, env) from the latest record of each cell.

    Failed runs are counted in ``failed`` and left out of every statistic; a pair with no
    successful run has its statistics as None.
    """
    rows = []
    for (algorithm, env), runs in group_runs(records).items():
        ok = [run for run in runs if run["status"] == "ok"]
        threshold = runs[0]["solve_threshold"]
        row = {"algorithm": algorithm, "env": env, "seeds": len(ok), "failed": len(runs) - len(ok),
               "budget": runs[0]["cell"]["budget"], "budget_unit": runs[0]["budget_unit"],
               "threshold": threshold}
        if not ok:
            rows.append(row | dict.fromkeys(
                ["mean", "std", "iqm", "iqm_ci_low", "iqm_ci_high", "mean_ci_low", "mean_ci_high", "solve_rate",
                 "reached_threshold", "median_steps_to_threshold", "mean_env_steps", "mean_wall_time_s"]))
            continue
        scores = np.array([run["eval"]["mean_return"] for run in ok])
        iqm_ci = stratified_bootstrap_ci([scores], iqm)
        mean_ci = stratified_bootstrap_ci([scores], np.mean)
        steps = ([] if threshold is None else
                 [steps_to_threshold(run["episode_returns"], run["episode_lengths"], threshold) for run in ok])
        reached = [s for s in steps if s is not None]
        row.update(
            mean=float(scores.mean()), std=float(scores.std(ddof=1)) if len(scores) > 1 else None,
            iqm=float(iqm(scores)),
            iqm_ci_low=None if iqm_ci is None else float(iqm_ci[0]),
            iqm_ci_high=None if iqm_ci is None else float(iqm_ci[1]),
            mean_ci_low=None if mean_ci is None else float(mean_ci[0]),
            mean_ci_high=None if mean_ci is None else float(mean_ci[1]),
            solve_rate=None if threshold is None else float(np.mean(scores >= threshold)),
            reached_threshold=None if threshold is None else len(reached),
            median_steps_to_threshold=float(np.median(reached)) if reached else None,
            mean_env_steps=float(np.mean([run["env_steps"] for run in ok])),
            mean_wall_time_s=float(np.mean([run["wall_time_s"] for run in ok])),
        )
        rows.append(row)
    return rows


def aggregate_solve_rates(records: dict[str, dict]) -> list[dict]:
    """Per algorithm, over all its envs: the fraction of successful runs that reach their env's
    threshold, with a 95% stratified-bootstrap CI (runs resampled within each env, so every
    resample keeps each env's number of runs). Solve rates, unlike returns, are comparable
    across envs. Algorithms with fewer than two envs are left out (``aggregate`` has them)."""
    by_algorithm: dict[str, list[np.ndarray]] = {}
    env_names: dict[str, list[str]] = {}
    for (algorithm, env), runs in group_runs(records).items():
        ok = [run for run in runs if run["status"] == "ok"]
        if ok and ok[0]["solve_threshold"] is not None:        # an env with no threshold has no solve rate
            solved = np.array([run["eval"]["mean_return"] >= run["solve_threshold"] for run in ok], dtype=np.float64)
            by_algorithm.setdefault(algorithm, []).append(solved)
            env_names.setdefault(algorithm, []).append(env)
    rows = []
    for algorithm, strata in by_algorithm.items():
        if len(strata) < 2:
            continue
        ci = stratified_bootstrap_ci(strata, np.mean)
        rows.append({"algorithm": algorithm, "envs": env_names[algorithm], "runs": int(sum(map(len, strata))),
                     "solve_rate": float(np.mean(np.concatenate(strata))),
                     "ci_low": None if ci is None else float(ci[0]), "ci_high": None if ci is None else float(ci[1])})
    return rows
