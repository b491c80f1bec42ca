"""Learning curves of several runs in one figure: ``tinygrad-rl plot RUN [RUN ...] --out FILE``.

    tinygrad-rl plot runs/dqn-CartPole-v1-seed* runs/a2c-CartPole-v1-seed* --out compare.png
    tinygrad-rl plot runs/sweep --metric eval_return --out eval.png     # every run folder inside runs/sweep

Runs whose config.json agree on everything but the seed form one group, drawn as the mean
over its seeds and a 95% bootstrap confidence band of that mean. Groups are labelled by what
differs between them: the algorithm, the env, and the hyperparameters whose values differ
(``lr=0.001`` vs ``lr=0.0003``); what they share goes into the title.

Each run's curve is put on a common grid of env steps before averaging: the grid spans the
env steps that every run of the group covers (no extrapolation), and each run is linearly
interpolated onto it. Metrics (``--metric``):

    train_return   training episode return, rolling mean over --smooth episodes (default 20)
    eval_return    mean return of the periodic deterministic evaluations (not smoothed)
    loss           the loss logged at each episode end, rolling mean over --smooth episodes
    entropy        the policy entropy logged at each episode end (A2C), rolling mean

The band is the percentile bootstrap (Efron & Tibshirani 1993, ch. 13): resample the group's
runs with replacement 2,000 times, take the mean curve of each resample, and keep the 2.5th
and 97.5th percentiles at each env step. A single run has no band. With few seeds the
percentile interval is narrower than it should be (it cannot reach beyond the runs seen), so
read a 3-seed band as a rough one.
"""
from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .arguments import UsageError
from .checkpoint import read_json
from .plots import label_env_steps, plt, rolling_mean, save_figure
from .safe_files import opener
from .summary import reward_threshold

__all__ = ["METRICS", "RunCurve", "RunGroup", "read_run", "find_runs", "group_runs", "bootstrap_mean_ci",
           "plot_runs", "add_parser", "run"]

# --metric -> (metrics.csv column, smoothed, y-axis label)
METRICS = {
    "train_return": ("episode_return", True, "training episode return"),
    "eval_return": ("eval_return", False, "evaluation return (mean of deterministic episodes)"),
    "loss": ("loss", True, "loss"),
    "entropy": ("entropy", True, "policy entropy (nats)"),
}
GRID_POINTS = 200
BOOTSTRAP_RESAMPLES = 2000


@dataclass
class RunCurve:
    """One run folder: where it is, what it ran, and its metrics.csv rows."""
    path: Path
    algo: str
    env_id: str
    config: dict
    rows: list[dict]

    @property
    def seed(self):
        return self.config.get("seed")

    def curve(self, metric: str, smooth: int) -> tuple[np.ndarray, np.ndarray]:
        """(env steps, values) of ``metric``, smoothed when the metric is."""
        column, smoothed, _ = METRICS[metric]
        rows = [r for r in self.rows if r.get(column) not in (None, "")]
        steps = np.array([float(r["env_step"]) for r in rows])
        values = np.array([float(r[column]) for r in rows])
        if smoothed and values.size:
            values = rolling_mean(values, smooth)
        return steps, values


@dataclass
class RunGroup:
    """Runs that differ only by seed."""
    algo: str
    env_id: str
    config: dict                      # the shared config, without the seed
    runs: list[RunCurve] = field(default_factory=list)
    label: str = ""


def read_run(run_dir: str | Path) -> RunCurve:
    """A run folder's config.json and metrics.csv (ValueError when either is missing or malformed)."""
    run = Path(run_dir)
    for name in ("config.json", "metrics.csv"):
        if not (run / name).is_file():
            raise ValueError(f"{run} is not a training run folder: {name} is missing")
    saved = read_json(run / "config.json")
    if not isinstance(saved, dict) or not isinstance(saved.get("algo"), str) or \
            not isinstance(saved.get("env_id"), str) or not isinstance(saved.get("config"), dict):
        raise ValueError(f"{run / 'config.json'}: expected {{\"algo\": str, \"env_id\": str, \"config\": {{...}}}}")
    with open(run / "metrics.csv", newline="", opener=opener) as f:     # a regular file, never through a link
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "env_step" not in reader.fieldnames:
            raise ValueError(f"{run / 'metrics.csv'}: expected a CSV with an env_step column")
        rows = list(reader)
    return RunCurve(run, saved["algo"], saved["env_id"], saved["config"], rows)


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Run folders named by ``paths``: a run folder itself, or a folder whose subfolders are runs."""
    found = []
    for path in map(Path, paths):
        if (path / "config.json").is_file():
            found.append(path)
        elif path.is_dir():
            inside = sorted(p for p in path.iterdir() if (p / "config.json").is_file())
            if not inside:
                raise ValueError(f"{path} is neither a run folder (no config.json) nor a folder of run folders")
            found.extend(inside)
        else:
            raise ValueError(f"{path} is not a folder")
    return found


def _hashable(value):
    return tuple(map(_hashable, value)) if isinstance(value, list) else value


def _format_value(value) -> str:
    if isinstance(value, list):
        return ",".join(map(_format_value, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def group_runs(runs: list[RunCurve]) -> list[RunGroup]:
    """Groups of runs equal in algorithm, env and every hyperparameter but the seed (first-seen order),
    each labelled by what differs between the groups."""
    groups: dict[tuple, RunGroup] = {}
    for run in runs:
        shared = {k: v for k, v in run.config.items() if k != "seed"}
        key = (run.algo, run.env_id, tuple(sorted((k, _hashable(v)) for k, v in shared.items())))
        groups.setdefault(key, RunGroup(run.algo, run.env_id, shared)).runs.append(run)
    groups = list(groups.values())
    for group, label in zip(groups, _labels(groups)):
        group.label = label
    return groups


def differing_fields(groups: list[RunGroup]) -> list[str]:
    """What tells the groups apart: "algo" and "env_id" when they vary, then the hyperparameters
    whose values vary among groups of the same algorithm and env (different algorithms differ in
    most hyperparameters; naming the algorithm is enough to tell them apart)."""
    fields = [name for name in ("algo", "env_id") if len({getattr(g, name) for g in groups}) > 1]
    clusters: dict[tuple, list[RunGroup]] = {}
    for g in groups:
        clusters.setdefault((g.algo, g.env_id), []).append(g)
    keys = set()
    for members in clusters.values():
        for k in {k for g in members for k in g.config}:
            if len({_hashable(g.config.get(k)) for g in members}) > 1:
                keys.add(k)
    return fields + sorted(keys)


def _labels(groups: list[RunGroup]) -> list[str]:
    fields = differing_fields(groups)
    if not fields:
        return [f"{g.algo} on {g.env_id}" for g in groups]
    labels = []
    for g in groups:
        parts = [getattr(g, name) for name in fields if name in ("algo", "env_id")]
        parts += [f"{name}={_format_value(g.config[name]) if name in g.config else '(unset)'}"
                  for name in fields if name not in ("algo", "env_id")]
        labels.append(", ".join(parts))
    return labels


def bootstrap_mean_ci(values: np.ndarray, rng: np.random.Generator, resamples: int = BOOTSTRAP_RESAMPLES,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap interval of the mean over axis 0 of ``values`` (runs x grid points).

    Each resample draws len(values) runs with replacement; the interval at each grid point is the
    (1 - level)/2 and (1 + level)/2 quantiles of the resampled means.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 1:
        raise ValueError(f"values must be (runs, points) with at least one run, got shape {values.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    picks = rng.integers(values.shape[0], size=(resamples, values.shape[0]))
    means = values[picks].mean(axis=1)                              # (resamples, points)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return low, high


def _group_curve(group: RunGroup, metric: str, smooth: int, log_x: bool):
    """(grid, per-run values on the grid) or None when no run of the group has the metric."""
    curves = [run.curve(metric, smooth) for run in group.runs]
    curves = [(s, v) for s, v in curves if s.size]
    if not curves:
        return None
    start = max(s[0] for s, _ in curves)
    end = min(s[-1] for s, _ in curves)
    if end < start:          # runs that share no span of env steps: plot each where it has data
        end = start
    if log_x:
        grid = np.geomspace(max(start, 1.0), max(end, 1.0), GRID_POINTS)
    else:
        grid = np.linspace(start, end, GRID_POINTS)
    return grid, np.array([np.interp(grid, s, v) for s, v in curves])


def _common_title(groups: list[RunGroup], metric: str) -> str:
    shared = []
    if len({g.algo for g in groups}) == 1:
        shared.append(groups[0].algo)
    if len({g.env_id for g in groups}) == 1:
        shared.append(groups[0].env_id)
    what = METRICS[metric][2]
    return f"{' on '.join(shared) + ': ' if shared else ''}{what}"


def plot_runs(run_dirs: list[str | Path], out: str | Path, metric: str = "train_return", smooth: int = 20,
              log_x: bool = False, seed: int = 0) -> list[dict]:
    """Draw the groups of ``run_dirs`` (see the module docstring) into ``out`` (PNG).

    Returns one dict per group: label, seeds, the runs' folders and, at the last common env step,
    the mean and its 95% bootstrap interval (None for a group without the metric).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be an int >= 1, got {smooth!r}")
    runs = [read_run(p) for p in find_runs(run_dirs)]
    if not runs:
        raise ValueError("no run folders given")
    groups = group_runs(runs)
    rng = np.random.default_rng(seed)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    results = []
    for i, group in enumerate(groups):
        seeds = sorted(str(r.seed) for r in group.runs)
        result = {"label": group.label, "seeds": len(group.runs), "runs": [str(r.path) for r in group.runs],
                  "env_step": None, "mean": None, "low": None, "high": None}
        results.append(result)
        curve = _group_curve(group, metric, smooth, log_x)
        if curve is None:
            continue
        grid, values = curve
        color = colors[i % len(colors)]
        mean = values.mean(axis=0)
        n = values.shape[0]
        ax.plot(grid, mean, color=color, linewidth=1.6,
                label=f"{group.label} ({n} seed{'s' if n > 1 else ''}: {', '.join(seeds)})")
        result.update(env_step=float(grid[-1]), mean=float(mean[-1]))
        if n > 1:
            low, high = bootstrap_mean_ci(values, rng)
            ax.fill_between(grid, low, high, color=color, alpha=0.2, linewidth=0)
            result.update(low=float(low[-1]), high=float(high[-1]))
    if all(r["mean"] is None for r in results):
        plt.close(fig)
        raise ValueError(f"none of the runs has the metric {metric!r} (metrics.csv column "
                         f"{METRICS[metric][0]!r} is empty)")
    envs = {g.env_id for g in groups}
    if metric in ("train_return", "eval_return") and len(envs) == 1:
        threshold = reward_threshold(next(iter(envs)))
        if threshold is not None:
            ax.axhline(threshold, color="black", linestyle=":", linewidth=1,
                       label=f"solved threshold ({threshold:g}, gymnasium)")
    smoothing = f", rolling mean of {smooth} episodes" if METRICS[metric][1] and smooth > 1 else ""
    ax.set_title(f"{_common_title(groups, metric)}\nmean over seeds, band: 95% bootstrap CI of the mean{smoothing}",
                 fontsize=10)
    if log_x:
        ax.set_xscale("log")
    else:
        label_env_steps(ax.xaxis)
    ax.set_xlabel("env steps" + (" (log scale)" if log_x else ""))
    ax.set_ylabel(METRICS[metric][2])
    ax.grid(alpha=0.3, which="both" if log_x else "major")
    ax.legend(fontsize=8, loc="best")
    save_figure(fig, out)
    return results


# --------------------------------------------------------------------------- CLI


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plot", help="learning curves of several runs in one figure (seeds grouped, 95%% bootstrap band)",
        description="Runs that differ only by seed are drawn as their mean and a 95% bootstrap band, "
                    "labelled by what differs between the groups.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders, or folders holding run folders")
    p.add_argument("--out", default="compare.png", help="PNG to write (default compare.png)")
    p.add_argument("--metric", default="train_return", choices=list(METRICS),
                   help="what to plot (default train_return)")
    p.add_argument("--smooth", type=str, default="20", help="rolling-mean window in episodes (default 20; 1: none)")
    p.add_argument("--log-x", action="store_true", help="env steps on a log scale")
    return p


def run(args) -> int:
    try:
        smooth = int(args.smooth)
    except ValueError:
        raise UsageError(f"--smooth must be an int >= 1, got {args.smooth!r}") from None
    if not str(args.out).lower().endswith(".png"):
        raise UsageError(f"--out must be a .png file, got {args.out!r}")
    try:
        results = plot_runs(args.runs, args.out, metric=args.metric, smooth=smooth, log_x=args.log_x)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for r in results:
        if r["mean"] is None:
            print(f"{r['label']}: {r['seeds']} run(s), no {args.metric} logged")
            continue
        band = f" (95% CI {r['low']:.1f} .. {r['high']:.1f})" if r["low"] is not None else ""
        print(f"{r['label']}: {r['seeds']} run(s), {args.metric} {r['mean']:.1f}{band} "
              f"at {r['env_step']:,.0f} env steps")
    print(f"figure: {args.out}")
    return 0
