"""The DQN-family ablation figure from a benchmark sweep's records: one column per env, training
return (top) and the periodic deterministic evaluation (bottom) against env steps, each setting's
mean over seeds with a 95% percentile-bootstrap band.

The runs come from ``tinygrad-rl benchmark --sweep docs/benchmark/dqn_ablation.toml --out DIR``
(DQN, + Double, + n-step, + dueling, + prioritized replay, all together); this script only reads
``DIR/runs.jsonl``. Settings are named by what they add to DQN.

    python scripts/dqn_ablation.py docs/benchmark/dqn_ablation --out docs/figures/dqn_ablation.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from algorithms.benchmark.records import RUNS_FILE, arm_label, latest_by_cell, load_records
from algorithms.benchmark.stats import stratified_bootstrap_ci
from algorithms.plots import plt, rolling_mean, save_figure

SMOOTH = 20          # episodes in the rolling mean of the training return
GRID_POINTS = 200


def display_name(cell: dict) -> str:
    """"DQN", "+ Double", "+ n-step (n=3)", ... from a cell's algorithm and overrides."""
    overrides = cell.get("overrides") or {}
    parts = []
    if cell["algorithm"] in ("double_dqn", "dqn_rainbow"):
        parts.append("Double")
    if overrides.get("n_step", 3 if cell["algorithm"] == "dqn_rainbow" else 1) > 1:
        parts.append(f"n-step (n={overrides.get('n_step', 3)})")
    if overrides.get("dueling", cell["algorithm"] == "dqn_rainbow"):
        parts.append("dueling")
    if overrides.get("prioritized", cell["algorithm"] == "dqn_rainbow"):
        parts.append("prioritized")
    others = [f"{k}={v}" for k, v in overrides.items() if k not in ("n_step", "dueling", "prioritized")]
    if not parts:
        name = "DQN"
    elif len(parts) >= 4:
        name = "all: " + " + ".join(parts)
    else:
        name = "+ " + " + ".join(parts)
    return name + (f" ({', '.join(others)})" if others else "")


def mean_band(curves: np.ndarray):
    ci = stratified_bootstrap_ci([curves], np.mean, axis=0)
    return curves.mean(axis=0), (None, None) if ci is None else ci


def training_curves(runs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Each run's rolling-mean training return on a common grid of env steps (step function of the
    last finished episode), up to the shortest run."""
    ends = [np.cumsum(run["episode_lengths"]) for run in runs]
    grid = np.linspace(0, min(e[-1] for e in ends), GRID_POINTS + 1)[1:]
    curves = []
    for run, end in zip(runs, ends):
        smooth = rolling_mean(np.asarray(run["episode_returns"]), SMOOTH)
        index = np.clip(np.searchsorted(end, grid, side="right") - 1, 0, len(smooth) - 1)
        curves.append(smooth[index])
    return grid, np.asarray(curves)


def eval_curves(runs: list[dict]) -> tuple[np.ndarray, np.ndarray] | None:
    """The periodic evaluations, at the env steps every run evaluated at."""
    if not all("eval_curve" in run for run in runs):
        return None
    common = sorted(set.intersection(*(set(run["eval_curve"]["env_steps"]) for run in runs)))
    curves = [[dict(zip(run["eval_curve"]["env_steps"], run["eval_curve"]["mean_return"]))[s] for s in common]
              for run in runs]
    return np.asarray(common, dtype=np.float64), np.asarray(curves)


def plot(records: dict[str, dict], out: Path) -> list[str]:
    groups: dict[tuple[str, str], list[dict]] = {}
    names: dict[str, str] = {}
    for record in records.values():
        if record["status"] != "ok":
            continue
        label = arm_label(record["cell"])
        names[label] = display_name(record["cell"])
        groups.setdefault((label, record["cell"]["env"]), []).append(record)
    labels = list(dict.fromkeys(label for label, _ in groups))
    envs = list(dict.fromkeys(env for _, env in groups))
    colours = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(labels)}
    fig, axes = plt.subplots(2, len(envs), figsize=(6.2 * len(envs), 8.2), squeeze=False)
    summary = []
    for column, env in enumerate(envs):
        threshold = next(r["solve_threshold"] for (l, e), rs in groups.items() if e == env for r in rs)
        top, bottom = axes[0, column], axes[1, column]
        for label in labels:
            runs = groups.get((label, env))
            if not runs:
                continue
            seeds = len(runs)
            x, curves = training_curves(runs)
            mean, (low, high) = mean_band(curves)
            top.plot(x, mean, color=colours[label], label=f"{names[label]} ({seeds} seeds)")
            if low is not None:
                top.fill_between(x, low, high, color=colours[label], alpha=0.15, linewidth=0)
            evaluated = eval_curves(runs)
            if evaluated is not None:
                x, curves = evaluated
                mean, (low, high) = mean_band(curves)
                bottom.plot(x, mean, "o-", markersize=3, color=colours[label], label=names[label])
                if low is not None:
                    bottom.fill_between(x, low, high, color=colours[label], alpha=0.15, linewidth=0)
            final = np.array([run["eval"]["mean_return"] for run in runs])
            summary.append(f"{env} | {names[label]} | {seeds} | {np.mean(final >= threshold) * seeds:.0f}/{seeds} "
                           f"| {final.mean():.1f}")
        for ax in (top, bottom):
            ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"solved ({threshold:g})")
            ax.grid(alpha=0.3)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
        top.set(title=f"{env}: training return (rolling mean of {SMOOTH} episodes, ε-greedy)",
                xlabel="env steps", ylabel="episode return")
        bottom.set(title=f"{env}: periodic deterministic evaluation", xlabel="env steps",
                   ylabel="evaluation return (mean of episodes)")
        top.legend(fontsize=7, loc="lower right")
    fig.suptitle("DQN ablation: each Rainbow component added to DQN, and all together\n"
                 "mean over seeds, band: 95% percentile-bootstrap CI of the mean", fontsize=11)
    save_figure(fig, out)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="+", help="benchmark output folders (their runs.jsonl are read)")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    records = {}
    for folder in args.sweeps:
        path = Path(folder) / RUNS_FILE
        if not path.is_file():
            parser.error(f"{folder} has no {RUNS_FILE}")
        records.update(latest_by_cell(load_records(path)))
    summary = plot(records, Path(args.out))
    print("env | setting | seeds | solved | final eval mean")
    print("\n".join(summary))
    print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
