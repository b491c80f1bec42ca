"""Figures of a sweep: learning curves, final performance, sample efficiency, ranking, profiles.

Every figure has one panel per environment (returns are not comparable across envs) and one
colour per algorithm, the same in every figure. Files are written to a temporary name and
renamed into place.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)
import numpy as np  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402

from algorithms.benchmark.stats import (  # noqa: E402
    SOLVE_WINDOW,
    group_runs,
    learning_curve,
    learning_curve_by_episode,
    performance_profile,
    steps_to_threshold,
)
from algorithms.runs.checkpoint import atomic_write  # noqa: E402

__all__ = ["FIGURES", "plot_all"]

FIGURES = ("learning_curves.png", "final_performance.png", "sample_efficiency.png", "ranking_heatmap.png",
           "performance_profile.png")


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=110))
    plt.close(fig)


def _layout(rows: list[dict]):
    algorithms = list(dict.fromkeys(row["algorithm"] for row in rows))
    envs = list(dict.fromkeys(row["env"] for row in rows))
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(algorithms)}
    return algorithms, envs, colours


def _wrapped(label: str, width: int = 28) -> str:
    """A setting's label on several lines, broken after commas (``dqn[lr=0.001,n_step=3,...]``)."""
    lines, current = [], ""
    for part in label.split(","):
        piece = part if not current else "," + part
        if current and len(current) + len(piece) > width:
            lines.append(current + ",")
            current = part
        else:
            current += piece
    return "\n".join(lines + [current])


def _panels(n: int, title: str, n_rows: int = 1, height: float = 3.4):
    """A row of ``n`` panels (one per env), or ``n_rows`` such rows; returns (fig, axes[row, env])."""
    width = max(5.0 * n, 9.0)  # one env still leaves room for the title and the legend
    fig, axes = plt.subplots(n_rows, n, figsize=(width, height * n_rows + 0.6), squeeze=False,
                             layout="constrained")
    fig.suptitle(textwrap.fill(title, width=int(width * 11)))
    return fig, axes


def _figure_legend(fig, axes) -> None:
    """One legend for the whole figure, below the panels, so no panel's data is hidden."""
    entries = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    # As many columns as the longest label leaves room for (grid settings make long labels).
    width = fig.get_size_inches()[0]
    longest = max((len(label) for label in entries), default=1)
    columns = max(1, min(len(entries), 6, int(width / (0.07 * longest + 0.6))))
    fig.legend(entries.values(), entries.keys(), loc="outside lower center", ncol=columns, fontsize=8)


def _threshold(rows: list[dict], env: str) -> float | None:
    """The solve threshold of ``env`` in the summary ``rows`` (None for an env without one)."""
    return next(row["threshold"] for row in rows if row["env"] == env)


def _threshold_line(ax, rows: list[dict], env: str, vertical: bool) -> None:
    """The env's solve threshold as a dashed line across the panel (none for an env without one)."""
    threshold = _threshold(rows, env)
    if threshold is None:
        return
    draw = ax.axvline if vertical else ax.axhline
    draw(threshold, color="black", linestyle="--", linewidth=1, label=f"solve threshold {threshold:g}")


def _ok_runs(groups, algorithm, env):
    return [run for run in groups.get((algorithm, env), []) if run["status"] == "ok"]


def plot_learning_curves(groups, rows, path: Path) -> None:
    """Top row: all of training against env steps. Bottom row: the second half of the training
    episodes, the y-axis fitted to that part, where the early returns no longer set the scale."""
    algorithms, envs, colours = _layout(rows)
    fig, axes = _panels(len(envs), f"Learning curves: training return (mean of last {SOLVE_WINDOW} episodes), "
                                   "mean over seeds with 95% bootstrap CI", n_rows=2)
    for column, env in enumerate(envs):
        full, late = axes[0, column], axes[1, column]
        threshold = _threshold(rows, env)
        shown = [np.array([] if threshold is None else [threshold])]
        for name in algorithms:
            runs = _ok_runs(groups, name, env)
            if not runs:
                continue
            for ax, (x, mean, low, high) in ((full, learning_curve(runs)), (late, learning_curve_by_episode(runs))):
                if ax is late:
                    keep = x > x[-1] / 2
                    x, mean = x[keep], mean[keep]
                    low, high = (None, None) if low is None else (low[keep], high[keep])
                    shown += [mean] + ([] if low is None else [low, high])
                ax.plot(x, mean, color=colours[name], label=f"{name} ({len(runs)} seeds)")
                if low is not None:
                    ax.fill_between(x, low, high, color=colours[name], alpha=0.2, linewidth=0)
        for ax in (full, late):
            _threshold_line(ax, rows, env, vertical=False)
        full.set(title=env, xlabel="env steps", ylabel="episode return")
        full.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
        shown = np.concatenate(shown)
        pad = 0.05 * max(shown.max() - shown.min(), 1e-6)
        late.set(title=f"{env}: second half of the episodes", xlabel="training episode", ylabel="episode return",
                 ylim=(shown.min() - pad, shown.max() + pad))
    _figure_legend(fig, axes)
    _save(fig, path)


def plot_final_performance(groups, rows, path: Path) -> None:
    algorithms, envs, colours = _layout(rows)
    fig, axes = _panels(len(envs), "Final performance: IQM of evaluation return over seeds, 95% bootstrap CI; "
                                   "dots: individual seeds")
    for ax, env in zip(axes[0], envs):
        for y, name in enumerate(algorithms):
            row = next((r for r in rows if r["algorithm"] == name and r["env"] == env), None)
            if row is None or row["iqm"] is None:
                continue
            # A point with its interval, not a bar: returns can be negative, so a bar's length from 0 means nothing.
            error = None if row["iqm_ci_low"] is None else [[row["iqm"] - row["iqm_ci_low"]],
                                                             [row["iqm_ci_high"] - row["iqm"]]]
            ax.errorbar(row["iqm"], y, xerr=error, fmt="D", color=colours[name], markersize=7, capsize=5,
                        elinewidth=2, label="IQM, 95% CI" if y == 0 else None)
            scores = [run["eval"]["mean_return"] for run in _ok_runs(groups, name, env)]
            jitter = np.linspace(-0.25, 0.25, len(scores)) if len(scores) > 1 else [0.0]
            ax.scatter(scores, y + 0.3 + 0.5 * np.asarray(jitter), color="black", s=8, zorder=3,
                       label="seeds" if y == 0 else None)
        _threshold_line(ax, rows, env, vertical=True)
        ax.set_ylim(-0.6, len(algorithms) - 0.2)
        ax.set_yticks(range(len(algorithms)), [_wrapped(name) for name in algorithms], fontsize=8)
        ax.set(title=env, xlabel="evaluation return (greedy policy)")
    _figure_legend(fig, axes)
    _save(fig, path)


def plot_sample_efficiency(groups, rows, path: Path) -> None:
    algorithms, envs, colours = _layout(rows)
    fig, axes = _panels(len(envs), f"Sample efficiency: env steps until the {SOLVE_WINDOW}-episode mean training "
                                   "return reaches the threshold (bar: median; dots: seeds)")
    for ax, env in zip(axes[0], envs):
        if _threshold(rows, env) is None:
            ax.text(0.5, 0.5, "this env has no solve threshold", transform=ax.transAxes, ha="center", va="center")
            ax.set(title=env, xticks=[], yticks=[])
            continue
        labels = []
        for y, name in enumerate(algorithms):
            runs = _ok_runs(groups, name, env)
            steps = [steps_to_threshold(run["episode_returns"], run["episode_lengths"], run["solve_threshold"])
                     for run in runs]
            reached = [s for s in steps if s is not None]
            labels.append(f"{_wrapped(name)}\n{len(reached)}/{len(runs)} reached")
            if reached:
                ax.barh(y, np.median(reached), color=colours[name], alpha=0.6)
                jitter = np.linspace(-0.25, 0.25, len(reached)) if len(reached) > 1 else [0.0]
                ax.scatter(reached, y + np.asarray(jitter), color="black", s=8, zorder=3)
        ax.set_yticks(range(len(algorithms)), labels, fontsize=8)
        ax.set_ylim(-0.6, len(algorithms) - 0.4)
        ax.set(title=env, xlabel="env steps to threshold")
        if not ax.has_data():
            ax.text(0.5, 0.5, "no seed reached the threshold", transform=ax.transAxes, ha="center", va="center")
            ax.set_xticks([])
        else:
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    _save(fig, path)


def plot_ranking_heatmap(rows, path: Path) -> None:
    algorithms, envs, _ = _layout(rows)
    ranks = np.full((len(algorithms), len(envs)), np.nan)
    values = np.full_like(ranks, np.nan)
    for j, env in enumerate(envs):
        iqms = {row["algorithm"]: row["iqm"] for row in rows if row["env"] == env and row["iqm"] is not None}
        names = list(iqms)
        if names:
            # Rank 1 is the highest IQM; ties share the average rank.
            env_ranks = scipy_stats.rankdata([-iqms[n] for n in names], method="average")
            for name, rank in zip(names, env_ranks):
                ranks[algorithms.index(name), j] = rank
                values[algorithms.index(name), j] = iqms[name]
    fig, ax = plt.subplots(figsize=(1.8 * len(envs) + 3.0, 0.7 * len(algorithms) + 1.6), layout="constrained")
    image = ax.imshow(np.ma.masked_invalid(ranks), cmap="viridis_r", vmin=1, vmax=max(len(algorithms), 2),
                      aspect="auto")
    for i in range(len(algorithms)):
        for j in range(len(envs)):
            text = "no run" if np.isnan(ranks[i, j]) else f"rank {ranks[i, j]:g}\nIQM {values[i, j]:.4g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="black" if np.isnan(ranks[i, j]) or ranks[i, j] <= (1 + len(algorithms)) / 2 else "white")
    ax.set_xticks(range(len(envs)), envs, rotation=15)
    ax.set_yticks(range(len(algorithms)), [_wrapped(name) for name in algorithms], fontsize=8)
    ax.set_title("Ranking by IQM of final evaluation return\n(1 = best; ties share the mean rank)")
    fig.colorbar(image, ax=ax, label="rank")
    _save(fig, path)


def plot_performance_profile(groups, rows, path: Path) -> None:
    algorithms, envs, colours = _layout(rows)
    fig, axes = _panels(len(envs), "Performance profiles: fraction of runs with final evaluation return > tau, "
                                   "95% bootstrap CI")
    for ax, env in zip(axes[0], envs):
        scores = {name: np.array([run["eval"]["mean_return"] for run in _ok_runs(groups, name, env)])
                  for name in algorithms}
        everything = np.concatenate([s for s in scores.values() if len(s)] or [np.zeros(1)])
        span = max(everything.max() - everything.min(), 1e-9)
        taus = np.linspace(everything.min() - 0.05 * span, everything.max() + 0.05 * span, 200)
        for name, values in scores.items():
            if not len(values):
                continue
            fraction, low, high = performance_profile(values, taus)
            ax.step(taus, fraction, where="post", color=colours[name], label=name)
            if low is not None:
                ax.fill_between(taus, low, high, step="post", color=colours[name], alpha=0.15, linewidth=0)
        _threshold_line(ax, rows, env, vertical=True)
        ax.set(title=env, xlabel="tau (evaluation return)", ylabel="fraction of runs with score > tau",
               ylim=(-0.02, 1.02))
    _figure_legend(fig, axes)
    _save(fig, path)


def plot_all(records: dict[str, dict], rows: list[dict], out_dir: str | Path) -> list[str]:
    """Write every figure into ``out_dir``; returns their file names (for the report)."""
    out_dir = Path(out_dir)
    plotted = [row for row in rows if row["seeds"] > 0]
    if not plotted:
        return []
    groups = group_runs(records)
    plot_learning_curves(groups, plotted, out_dir / FIGURES[0])
    plot_final_performance(groups, plotted, out_dir / FIGURES[1])
    plot_sample_efficiency(groups, plotted, out_dir / FIGURES[2])
    plot_ranking_heatmap(plotted, out_dir / FIGURES[3])
    plot_performance_profile(groups, plotted, out_dir / FIGURES[4])
    return list(FIGURES)
